import { describe, expect, it } from 'vitest';
import {
  EnvelopeError,
  generateHpkeKeyPair,
  generateSigningKeyPair,
  openEnvelope,
  pseudonymise,
  readEnvelopeHeader,
  sealEnvelope,
  type EnvelopeHeader,
} from './index.js';
import { batchHeader, envelopeCodeOf, sampleCsv } from './test-support/envelope-fixtures.js';

const enclave = generateHpkeKeyPair();
const gw = generateSigningKeyPair();
const header: EnvelopeHeader = batchHeader(enclave.publicKey);
const csv = sampleCsv;
const senderKey = (h: EnvelopeHeader): Uint8Array | undefined => (h.gateway === 'gw-1' ? gw.publicKey : undefined);

const codeOf = envelopeCodeOf;

describe('envelope', () => {
  const sealed = sealEnvelope(enclave.publicKey, header, csv, gw.privateKey);

  it('round-trips header and plaintext, padded to a size bucket that hides the beat count', () => {
    const opened = openEnvelope(enclave.privateKey, sealed, { expectedKind: 'rr-batch', senderKey });
    expect(opened.header).toEqual(header);
    expect(new TextDecoder().decode(opened.plaintext)).toBe(new TextDecoder().decode(csv));
    expect(opened.signed).toBe(true);
    expect(readEnvelopeHeader(sealed)).toEqual(header);
    const longer = new TextEncoder().encode('time_ms,rr_ms\n' + '10812,812\n'.repeat(60));
    expect(sealEnvelope(enclave.publicKey, header, longer, gw.privateKey).length).toBe(sealed.length);
  });

  it('contains no plaintext CSV bytes', () => {
    expect(Buffer.from(sealed).includes(Buffer.from('10812,812'))).toBe(false);
    expect(Buffer.from(sealed).includes(Buffer.from('time_ms'))).toBe(false);
  });

  it('refuses a bit flipped in every byte of the file', () => {
    const codes = new Set<string>();
    for (let i = 0; i < sealed.length; i++) {
      const t = sealed.slice();
      t[i]! ^= 1 << i % 8;
      const code = codeOf(() => openEnvelope(enclave.privateKey, t, { expectedKind: 'rr-batch', senderKey }));
      expect(code, `flip at byte ${i}`).not.toBe('opened');
      codes.add(code);
    }
    expect(codes).toContain('HRV_ERR_ENVELOPE_SIGNATURE');
    expect(codes).toContain('HRV_ERR_ENVELOPE_MALFORMED');
  });

  it('refuses a bit flipped in the ciphertext of an unsigned file as an integrity failure, and header tampering too', () => {
    const unsigned = sealEnvelope(enclave.publicKey, header, csv);
    const t = unsigned.slice();
    t[t.length - 20]! ^= 0x80;
    expect(codeOf(() => openEnvelope(enclave.privateKey, t))).toBe('HRV_ERR_ENVELOPE_INTEGRITY');
    // Rewrite seq 42 → 43 in the readable header: still valid JSON, but the AAD no longer matches.
    const text = Buffer.from(unsigned);
    const at = text.indexOf('"seq":42');
    text[at + 7] = '3'.charCodeAt(0);
    expect(readEnvelopeHeader(text).seq).toBe(43);
    expect(codeOf(() => openEnvelope(enclave.privateKey, text))).toBe('HRV_ERR_ENVELOPE_INTEGRITY');
  });

  it('refuses every truncation and trailing bytes', () => {
    for (let n = 0; n < sealed.length; n++) {
      const code = codeOf(() => openEnvelope(enclave.privateKey, sealed.subarray(0, n), { senderKey }));
      expect(['HRV_ERR_ENVELOPE_TRUNCATED', 'HRV_ERR_ENVELOPE_MALFORMED'], `length ${n}`).toContain(code);
    }
    const longer = new Uint8Array(sealed.length + 1);
    longer.set(sealed);
    expect(codeOf(() => openEnvelope(enclave.privateKey, longer, { senderKey }))).toBe('HRV_ERR_ENVELOPE_MALFORMED');
  });

  it('refuses a file sealed to another key', () => {
    const other = generateHpkeKeyPair();
    expect(codeOf(() => openEnvelope(other.privateKey, sealed, { senderKey }))).toBe('HRV_ERR_ENVELOPE_INTEGRITY');
  });

  it('refuses unsigned files, unknown senders and signatures by a key not enrolled for that gateway', () => {
    const unsigned = sealEnvelope(enclave.publicKey, header, csv);
    expect(codeOf(() => openEnvelope(enclave.privateKey, unsigned, { senderKey }))).toBe('HRV_ERR_ENVELOPE_SIGNATURE');
    const stranger = sealEnvelope(enclave.publicKey, { ...header, gateway: 'gw-9' }, csv, gw.privateKey);
    expect(codeOf(() => openEnvelope(enclave.privateKey, stranger, { senderKey }))).toBe('HRV_ERR_ENVELOPE_SIGNATURE');
    const forged = sealEnvelope(enclave.publicKey, header, csv, generateSigningKeyPair().privateKey);
    expect(codeOf(() => openEnvelope(enclave.privateKey, forged, { senderKey }))).toBe('HRV_ERR_ENVELOPE_SIGNATURE');
  });

  it('refuses the wrong kind, bad magic, version and header fields', () => {
    expect(codeOf(() => openEnvelope(enclave.privateKey, sealed, { expectedKind: 'hrv-result' }))).toBe('HRV_ERR_ENVELOPE_CONTENT');
    expect(() => sealEnvelope(enclave.publicKey, { ...header, gateway: '../x' }, csv)).toThrow(/gateway id/);
    expect(() => sealEnvelope(enclave.publicKey, { ...header, seq: -1 }, csv)).toThrow(EnvelopeError);
    const v3 = sealed.slice();
    v3[4] = 3;
    expect(() => readEnvelopeHeader(v3)).toThrow(/version 3/);
    // A v1 file relabelled as version 2 is read as an epoch envelope, and refused by its framing.
    const v2 = sealed.slice();
    v2[4] = 2;
    expect(() => readEnvelopeHeader(v2)).toThrow(EnvelopeError);
    expect(codeOf(() => openEnvelope(enclave.privateKey, v2))).toBe('HRV_ERR_ENVELOPE_MALFORMED');
    expect(() => readEnvelopeHeader(new TextEncoder().encode('time_ms,rr_ms\n1,2\n'))).toThrow(/bad magic/);
  });

  it('pseudonyms are stable per key and differ across keys', () => {
    const k1 = new Uint8Array(32).fill(1);
    expect(pseudonymise('p1', k1)).toBe(pseudonymise('p1', k1));
    expect(pseudonymise('p1', k1)).not.toBe(pseudonymise('p2', k1));
    expect(pseudonymise('p1', k1)).not.toBe(pseudonymise('p1', new Uint8Array(32).fill(2)));
    expect(pseudonymise('p1', k1)).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('plain-mode file', () => {
  it('round-trips and refuses malformed input', async () => {
    const { encodePlainFile, decodePlainFile } = await import('./index.js');
    const f = encodePlainFile(header, csv);
    const d = decodePlainFile(f);
    expect(d.header).toEqual(header);
    expect(Buffer.from(d.body).equals(Buffer.from(csv))).toBe(true);
    expect(() => decodePlainFile(csv)).toThrow(/bad magic/);
    expect(() => decodePlainFile(new TextEncoder().encode('HRVP1\n{"v":2}\n'))).toThrow(/header invalid/);
  });
});
