import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createEpoch,
  deriveEpochKeys,
  EnvelopeError,
  generateHpkeKeyPair,
  generateSigningKeyPair,
  keyIdOf,
  openEnvelope,
  openEpochEnvelope,
  parseEpochEnvelope,
  readEnvelopeHeader,
  sealEpochEnvelope,
  unlockEpochBlock,
  type EnvelopeHeader,
  type EpochKeys,
  type ParsedEpochEnvelope,
} from './index.js';
import { batchHeader, envelopeCodeOf, sampleCsv } from './test-support/envelope-fixtures.js';

const enclave = generateHpkeKeyPair();
const gw1 = generateSigningKeyPair();
const gw2 = generateSigningKeyPair();
const enrolled: Record<string, Uint8Array> = { 'gw-1': gw1.publicKey, 'gw-2': gw2.publicKey };
const enclaveKeyId = keyIdOf(enclave.publicKey);
const header: EnvelopeHeader = batchHeader(enclave.publicKey);
const resultHeader: EnvelopeHeader = { ...header, kind: 'hrv-result', key_id: 'gw-1-results' };
const csv = sampleCsv;

function newEpoch(gateway = 'gw-1', signingPrivateKey = gw1.privateKey, secret: Uint8Array = randomBytes(32)): EpochKeys & { secret: Uint8Array } {
  const keys = createEpoch({ id: randomBytes(16), secret, gateway, createdMs: 1_700_000_000_000, enclavePublicKey: enclave.publicKey, enclaveKeyId, signingPrivateKey });
  return Object.assign(keys, { secret });
}

/** The enclave's way in: authenticate the opening block every time (no cache). */
const enclaveKeys = (p: ParsedEpochEnvelope): EpochKeys => unlockEpochBlock(p.block, enclave.privateKey, enrolled[p.block.gateway]);

/** The gateway's way in for results: its own stored epochs by id. */
function gatewayKeys(...epochs: EpochKeys[]): (p: ParsedEpochEnvelope) => EpochKeys {
  return (p) => {
    const k = epochs.find((e) => e.idHex === p.block.idHex);
    if (!k) throw new EnvelopeError('HRV_ERR_ENVELOPE_EPOCH', `unknown epoch ${p.block.idHex}`);
    return k;
  };
}

const codeOf = envelopeCodeOf;

/** Byte offsets of a sealed file's regions, from its own framing. */
function regions(bytes: Uint8Array): Record<'prefix' | 'header' | 'block' | 'nonce' | 'ciphertext' | 'tag', [number, number]> {
  const b = Buffer.from(bytes);
  const hEnd = 8 + b.readUInt16BE(6);
  const bStart = hEnd + 2;
  const nAt = bStart + b.readUInt16BE(hEnd);
  const ctStart = nAt + 12 + 4;
  return { prefix: [0, 8], header: [8, hEnd], block: [bStart, nAt], nonce: [nAt, nAt + 12], ciphertext: [ctStart, b.length - 16], tag: [b.length - 16, b.length] };
}

describe('epoch envelope (version 2)', () => {
  const epoch = newEpoch();
  const sealed = sealEpochEnvelope(epoch, header, csv);

  it('round-trips a batch file to the enclave and a result back to the gateway, without a public-key operation per file', () => {
    const opened = openEpochEnvelope(sealed, enclaveKeys, { expectedKind: 'rr-batch' });
    expect(opened.header).toEqual(header);
    expect(new TextDecoder().decode(opened.plaintext)).toBe(new TextDecoder().decode(csv));
    expect(opened.epoch.idHex).toBe(epoch.idHex);
    expect(readEnvelopeHeader(sealed)).toEqual(header);
    // The enclave seals the result under the keys it recovered; the gateway opens it with its own.
    const result = sealEpochEnvelope(opened.epoch, resultHeader, new TextEncoder().encode('{"ok":true}'));
    const back = openEpochEnvelope(result, gatewayKeys(epoch), { expectedKind: 'hrv-result' });
    expect(new TextDecoder().decode(back.plaintext)).toBe('{"ok":true}');
    expect(back.header).toEqual(resultHeader);
    // Every file of the epoch carries the same signed block: one signature and one HPKE seal per epoch.
    const other = sealEpochEnvelope(epoch, { ...header, seq: 43 }, csv);
    expect(Buffer.from(parseEpochEnvelope(other).block.bytes).equals(Buffer.from(parseEpochEnvelope(sealed).block.bytes))).toBe(true);
    expect(Buffer.from(parseEpochEnvelope(other).nonce).equals(Buffer.from(parseEpochEnvelope(sealed).nonce))).toBe(false);
  });

  it('pads to the same size buckets as version 1 and contains no plaintext', () => {
    const longer = new TextEncoder().encode('time_ms,rr_ms\n' + '10812,812\n'.repeat(60));
    expect(sealEpochEnvelope(epoch, header, longer).length).toBe(sealed.length);
    expect(sealEpochEnvelope(epoch, header, csv, { padTo: () => 8192 }).length - sealed.length).toBe(8192 - 1024);
    expect(Buffer.from(sealed).includes(Buffer.from('10812,812'))).toBe(false);
    expect(Buffer.from(sealed).includes(Buffer.from('time_ms'))).toBe(false);
  });

  it('refuses a bit flipped in every byte of every region with the code for that region', () => {
    const byRegion = new Map<string, Set<string>>();
    for (const [region, [from, to]] of Object.entries(regions(sealed))) {
      const codes = new Set<string>();
      for (let i = from; i < to; i++) {
        const t = sealed.slice();
        t[i]! ^= 1 << i % 8;
        const code = codeOf(() => openEpochEnvelope(t, enclaveKeys, { expectedKind: 'rr-batch' }));
        expect(code, `${region}: flip at byte ${i}`).not.toBe('opened');
        codes.add(code);
      }
      byRegion.set(region, codes);
    }
    expect([...byRegion.get('prefix')!]).toEqual(['HRV_ERR_ENVELOPE_MALFORMED']);
    expect(byRegion.get('header')).toContain('HRV_ERR_ENVELOPE_INTEGRITY');
    // A block bit is caught by the signature (or the framing), before any key agreement.
    expect(byRegion.get('block')).toContain('HRV_ERR_ENVELOPE_SIGNATURE');
    expect(byRegion.get('block')).not.toContain('HRV_ERR_ENVELOPE_INTEGRITY');
    for (const r of ['nonce', 'ciphertext', 'tag']) expect([...byRegion.get(r)!], r).toEqual(['HRV_ERR_ENVELOPE_INTEGRITY']);
  });

  it('refuses a result bit-flipped anywhere, and a header rewritten to another sequence number', () => {
    const result = sealEpochEnvelope(epoch, resultHeader, csv);
    for (let i = 0; i < result.length; i++) {
      const t = result.slice();
      t[i]! ^= 1 << i % 8;
      expect(codeOf(() => openEpochEnvelope(t, gatewayKeys(epoch), { expectedKind: 'hrv-result' })), `flip at byte ${i}`).not.toBe('opened');
    }
    const text = Buffer.from(sealed);
    const at = text.indexOf('"seq":42');
    text[at + 7] = '3'.charCodeAt(0);
    expect(readEnvelopeHeader(text).seq).toBe(43);
    expect(codeOf(() => openEpochEnvelope(text, enclaveKeys))).toBe('HRV_ERR_ENVELOPE_INTEGRITY');
  });

  it('refuses every truncation and trailing bytes', () => {
    for (let n = 0; n < sealed.length; n++) {
      const code = codeOf(() => openEpochEnvelope(sealed.subarray(0, n), enclaveKeys));
      expect(['HRV_ERR_ENVELOPE_TRUNCATED', 'HRV_ERR_ENVELOPE_MALFORMED'], `length ${n}`).toContain(code);
    }
    const longer = new Uint8Array(sealed.length + 1);
    longer.set(sealed);
    expect(codeOf(() => openEpochEnvelope(longer, enclaveKeys))).toBe('HRV_ERR_ENVELOPE_MALFORMED');
    expect(() => parseEpochEnvelope(sealed.subarray(0, 40))).toThrow(/ends inside/);
  });

  it("refuses a file carrying another gateway's epoch, and an epoch block signed by anyone but its gateway", () => {
    // The host relabels gw-1's file as gw-2's: the block still names gw-1.
    const relabelled = Buffer.from(sealed);
    relabelled.set(Buffer.from('gw-2'), relabelled.indexOf('"gw-1"') + 1);
    expect(codeOf(() => openEpochEnvelope(relabelled, enclaveKeys))).toBe('HRV_ERR_ENVELOPE_EPOCH');
    expect(() => openEpochEnvelope(relabelled, enclaveKeys)).toThrow(/carries an epoch of gateway 'gw-1'/);
    // Enrolled gateway gw-2 makes an epoch claiming to be gw-1's, signed with its own key.
    const impostor = newEpoch('gw-1', gw2.privateKey);
    expect(codeOf(() => openEpochEnvelope(sealEpochEnvelope(impostor, header, csv), enclaveKeys))).toBe('HRV_ERR_ENVELOPE_SIGNATURE');
    // An epoch of a gateway the enclave never enrolled.
    const stranger = newEpoch('gw-9', generateSigningKeyPair().privateKey);
    expect(() => openEpochEnvelope(sealEpochEnvelope(stranger, { ...header, gateway: 'gw-9' }, csv), enclaveKeys)).toThrow(/'gw-9' is not enrolled/);
    // Sealing under one gateway's epoch with another's header is refused at the sender too.
    expect(codeOf(() => sealEpochEnvelope(epoch, { ...header, gateway: 'gw-2' }, csv))).toBe('HRV_ERR_ENVELOPE_EPOCH');
  });

  it('refuses an unknown epoch, a batch file without a signed opening block, and an epoch sealed to another enclave key', () => {
    const result = sealEpochEnvelope(epoch, resultHeader, csv);
    expect(codeOf(() => openEpochEnvelope(result, gatewayKeys(newEpoch())))).toBe('HRV_ERR_ENVELOPE_EPOCH');
    // Only a reference block (no secret, no signature) on a batch file: the keys of the epoch would have to be guessed.
    const bare = deriveEpochKeys(epoch.id, 'gw-1', epoch.secret);
    expect(() => sealEpochEnvelope(bare, header, csv)).toThrow(/opening block/);
    const asResult = sealEpochEnvelope(epoch, { ...header, kind: 'hrv-result' }, csv);
    const unsigned = Buffer.from(asResult);
    unsigned.set(Buffer.from('"kind":"rr-batch"  ').subarray(0, 19), unsigned.indexOf('"kind":"hrv-result"'));
    // (the JSON above is padded to the same length, so only the block type disagrees with the kind)
    expect(() => openEpochEnvelope(unsigned, enclaveKeys)).toThrow(/rr-batch file needs an opening block, not a reference block/);
    const otherEnclave = generateHpkeKeyPair();
    expect(codeOf(() => openEpochEnvelope(sealed, (p) => unlockEpochBlock(p.block, otherEnclave.privateKey, gw1.publicKey)))).toBe('HRV_ERR_ENVELOPE_INTEGRITY');
    // A header naming another enclave key than the one the block was sealed to.
    expect(codeOf(() => openEpochEnvelope(sealEpochEnvelope(epoch, { ...header, key_id: 'ffffffffffffffff' }, csv), enclaveKeys))).toBe('HRV_ERR_ENVELOPE_EPOCH');
  });

  it('a result sealed under epoch A does not open as epoch B, even with its block rewritten to name B', () => {
    const a = epoch;
    const b = newEpoch();
    const result = sealEpochEnvelope(a, resultHeader, csv);
    expect(codeOf(() => openEpochEnvelope(result, () => b))).toBe('HRV_ERR_ENVELOPE_EPOCH');
    const renamed = Buffer.from(result);
    renamed.set(b.id, regions(result).block[0] + 1);
    expect(parseEpochEnvelope(renamed).block.idHex).toBe(b.idHex);
    expect(codeOf(() => openEpochEnvelope(renamed, gatewayKeys(a, b)))).toBe('HRV_ERR_ENVELOPE_INTEGRITY');
    // Same secret, other epoch id: still other keys (the id is the derivation's salt).
    const sameSecret = deriveEpochKeys(b.id, 'gw-1', a.secret);
    expect(codeOf(() => openEpochEnvelope(renamed, () => sameSecret))).toBe('HRV_ERR_ENVELOPE_INTEGRITY');
  });

  it('keeps the directions apart: a batch file is not a result, and a file of the wrong kind is refused', () => {
    expect(codeOf(() => openEpochEnvelope(sealed, enclaveKeys, { expectedKind: 'hrv-result' }))).toBe('HRV_ERR_ENVELOPE_CONTENT');
    // The result key does not open a batch body, nor the batch key a result body.
    const swapped: EpochKeys = { ...epoch, batchKey: epoch.resultKey, resultKey: epoch.batchKey };
    expect(codeOf(() => openEpochEnvelope(sealed, () => swapped))).toBe('HRV_ERR_ENVELOPE_INTEGRITY');
    expect(codeOf(() => openEpochEnvelope(sealEpochEnvelope(epoch, resultHeader, csv), () => swapped))).toBe('HRV_ERR_ENVELOPE_INTEGRITY');
  });

  it('is refused by the version-1 opener with a clear error, and names bad inputs at creation', () => {
    expect(() => openEnvelope(enclave.privateKey, sealed)).toThrow(/unsupported envelope version 2/);
    expect(() => createEpoch({ id: new Uint8Array(3), secret: randomBytes(32), gateway: 'gw-1', createdMs: 0, enclavePublicKey: enclave.publicKey, enclaveKeyId, signingPrivateKey: gw1.privateKey })).toThrow(/epoch id must be 16 bytes/);
    expect(() => deriveEpochKeys(randomBytes(16), 'gw-1', new Uint8Array(5))).toThrow(/secret must be 32 bytes/);
    expect(() => deriveEpochKeys(randomBytes(16), '../x', randomBytes(32))).toThrow(/gateway id/);
  });
});
