import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateHpkeKeyPair, generateSigningKeyPair, keyIdOf, openEpochEnvelope, sealEpochEnvelope, unlockEpochBlock, type EnvelopeHeader } from '../crypto/index.js';
import { HrvaultError } from '../errors.js';
import { GatewayEpochs } from './epoch-keys.js';

const enclave = generateHpkeKeyPair();
const signing = generateSigningKeyPair();
const T0 = 1_800_000_000_000;
const dirOf = (): string => join(mkdtempSync(join(tmpdir(), 'hrv-epochs-')), 'epochs');
const batch = (seq: number): EnvelopeHeader => ({ v: 1, kind: 'rr-batch', gateway: 'gw-1', patient: 'p1', seq, t_start_ms: 0, t_end_ms: 1, key_id: keyIdOf(enclave.publicKey) });

/** What the enclave does with a batch file: unlock its epoch and seal the result under it. */
function enclaveAnswers(file: Uint8Array): Uint8Array {
  const opened = openEpochEnvelope(file, (p) => unlockEpochBlock(p.block, enclave.privateKey, signing.publicKey));
  return sealEpochEnvelope(opened.epoch, { ...opened.header, kind: 'hrv-result', key_id: 'gw' }, new TextEncoder().encode('result'));
}

describe('gateway epoch secrets', () => {
  it('makes a new epoch durable (0600) before its first file exists: a gateway killed right after still opens the results', () => {
    const dir = dirOf();
    const epochs = GatewayEpochs.open(dir, 'gw-1', signing.privateKey, {}, T0);
    const keys = epochs.forNextFile(enclave, T0);
    const files = readdirSync(dir);
    expect(files).toEqual([`${keys.idHex}.key`]);
    expect(statSync(join(dir, files[0]!)).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    // No close, no flush: a new process reads what is on disk.
    const result = enclaveAnswers(sealEpochEnvelope(keys, batch(1), new TextEncoder().encode('beats')));
    const restarted = GatewayEpochs.open(dir, 'gw-1', signing.privateKey, {}, T0 + 1);
    const back = openEpochEnvelope(result, (p) => restarted.forResult(p.block.gateway, p.block.idHex), { expectedKind: 'hrv-result' });
    expect(new TextDecoder().decode(back.plaintext)).toBe('result');
    // The restarted gateway begins a new epoch rather than continue one whose file count it lost.
    expect(restarted.forNextFile(enclave, T0 + 1).idHex).not.toBe(keys.idHex);
  });

  it('seals nothing when the secret cannot be written', () => {
    const dir = dirOf();
    const epochs = GatewayEpochs.open(dir, 'gw-1', signing.privateKey, {}, T0);
    rmSync(dir, { recursive: true });
    writeFileSync(dir, 'not a directory');
    let err: unknown;
    try {
      epochs.forNextFile(enclave, T0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HrvaultError);
    expect((err as HrvaultError).code).toBe('HRV_ERR_SPOOL');
    expect(epochs.size).toBe(0);
  });

  it('ends an epoch on its age, its file count and a change of the attested enclave key, and not otherwise', () => {
    const epochs = GatewayEpochs.open(dirOf(), 'gw-1', signing.privateKey, { maxAgeMs: 1000, maxFiles: 3 }, T0);
    const a = epochs.forNextFile(enclave, T0);
    expect(epochs.forNextFile(enclave, T0 + 999).idHex).toBe(a.idHex);
    expect(epochs.forNextFile(enclave, T0 + 999).idHex).toBe(a.idHex);
    const b = epochs.forNextFile(enclave, T0 + 999); // fourth file: over maxFiles
    expect(b.idHex).not.toBe(a.idHex);
    const c = epochs.forNextFile(enclave, T0 + 999 + 1000); // b's age reached
    expect(c.idHex).not.toBe(b.idHex);
    const rotated = generateHpkeKeyPair();
    const d = epochs.forNextFile(rotated, T0 + 2000);
    expect(d.idHex).not.toBe(c.idHex);
    // The new epoch's block is sealed to the new key: the old key cannot open it.
    const file = sealEpochEnvelope(d, { ...batch(9), key_id: keyIdOf(rotated.publicKey) }, new Uint8Array(3));
    expect(() => openEpochEnvelope(file, (p) => unlockEpochBlock(p.block, enclave.privateKey, signing.publicKey))).toThrow(/sealed to another enclave key/);
    expect(openEpochEnvelope(file, (p) => unlockEpochBlock(p.block, rotated.privateKey, signing.publicKey)).plaintext.length).toBe(3);
    expect(epochs.size).toBe(4);
  });

  it('deletes secrets beyond retention, and refuses results of unknown epochs and of other gateways', () => {
    const dir = dirOf();
    const epochs = GatewayEpochs.open(dir, 'gw-1', signing.privateKey, { retentionMs: 10_000, maxAgeMs: 1000 }, T0);
    const old = epochs.forNextFile(enclave, T0);
    const result = enclaveAnswers(sealEpochEnvelope(old, batch(1), new Uint8Array(1)));
    const young = epochs.forNextFile(enclave, T0 + 9_500);
    expect(epochs.forResult('gw-1', old.idHex)).toBe(old);
    expect(() => epochs.forResult('gw-2', old.idHex)).toThrow(/gw-2\/.* does not hold/);
    const later = GatewayEpochs.open(dir, 'gw-1', signing.privateKey, { retentionMs: 10_000 }, T0 + 10_001);
    expect(readdirSync(dir)).toEqual([`${young.idHex}.key`]);
    let code: string | undefined;
    try {
      openEpochEnvelope(result, (p) => later.forResult(p.block.gateway, p.block.idHex));
    } catch (e) {
      code = (e as HrvaultError).code;
    }
    expect(code).toBe('HRV_ERR_ENVELOPE_EPOCH');
    // Another gateway's secrets in the directory are refused, not adopted.
    expect(() => GatewayEpochs.open(dir, 'gw-2', signing.privateKey, {}, T0)).toThrow(/not epoch .* of gateway gw-2/);
  });

  it('removes a temp file a crash left and refuses a corrupt secret by name', () => {
    const dir = dirOf();
    GatewayEpochs.open(dir, 'gw-1', signing.privateKey, {}, T0).forNextFile(enclave, T0);
    writeFileSync(join(dir, 'ab.key.tmp-123'), 'partial');
    GatewayEpochs.open(dir, 'gw-1', signing.privateKey, {}, T0);
    expect(readdirSync(dir).some((n) => n.includes('.tmp-'))).toBe(false);
    writeFileSync(join(dir, `${'0'.repeat(32)}.key`), '{"v":1');
    expect(() => GatewayEpochs.open(dir, 'gw-1', signing.privateKey, {}, T0)).toThrow(/0{32}\.key is unreadable/);
  });
});
