import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateHpkeKeyPair, generateSigningKeyPair, keyIdOf, openEnvelope } from '../crypto/index.js';
import { makeGateway, sealedBatch } from '../test-support/sealed-batches.js';
import { EnclaveCore } from './core.js';
import { KeyRing } from './keyring.js';
import { loadSealingSecret, seal } from './sealing.js';

const HOUR = 3_600_000;
const policy = { rotationMs: HOUR, retentionMs: 2 * HOUR };
const T0 = Date.UTC(2026, 0, 1);
const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'keyring-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  vi.useRealTimers();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function ring(d: string, now = T0): KeyRing {
  return KeyRing.open(join(d, 'keys.sealed'), loadSealingSecret(join(d, 'seal.key')), policy, now);
}

describe('KeyRing', () => {
  it('rotates on schedule, keeps the retired pair for its retention, then refuses it with HRV_ERR_KEY_RETIRED', () => {
    const d = dir();
    const r = ring(d);
    const first = r.current.keyId;
    expect(r.rotateIfDue(T0 + HOUR - 1)).toBe(false);
    expect(r.rotateIfDue(T0 + HOUR)).toBe(true);
    const second = r.current.keyId;
    expect(second).not.toBe(first);
    expect(r.keyIds).toEqual([first, second]);
    // Within retention the retired pair still opens files.
    expect(r.forOpening(first, T0 + 3 * HOUR).keyId).toBe(first);
    expect(() => r.forOpening(first, T0 + 3 * HOUR + 1)).toThrow(expect.objectContaining({ code: 'HRV_ERR_KEY_RETIRED' }));
    // The next rotation erases it from the sealed file; the refusal still names it as retired.
    expect(r.rotateIfDue(T0 + 3 * HOUR + 1)).toBe(true);
    expect(r.keyIds).not.toContain(first);
    expect(r.erasedKeyIds).toEqual([first]);
    expect(r.rotations).toBe(2);
    const again = ring(d, T0 + 3 * HOUR + 2);
    expect(again.keyIds).toEqual(r.keyIds);
    expect(() => again.forOpening(first, T0 + 3 * HOUR + 2)).toThrow(/retired .* beyond the retention of 7200 s/);
    expect(() => again.forOpening('ffffffffffffffff', T0 + 3 * HOUR + 2)).toThrow(expect.objectContaining({ code: 'HRV_ERR_ENVELOPE_INTEGRITY' }));
  });

  it('never rotates with rotation 0, and keeps the keys across a restart', () => {
    const d = dir();
    const r = KeyRing.open(join(d, 'keys.sealed'), loadSealingSecret(join(d, 'seal.key')), { rotationMs: 0, retentionMs: HOUR }, T0);
    expect(r.rotateIfDue(T0 + 1000 * HOUR)).toBe(false);
    expect(ring(d, T0 + 1000 * HOUR).current.keyId).toBe(r.current.keyId);
  });

  it('reads a keys file of the first format (one pair, 64 raw bytes) and does not rotate it at once', () => {
    const d = dir();
    const secret = loadSealingSecret(join(d, 'seal.key'));
    const hpke = generateHpkeKeyPair();
    const signing = generateSigningKeyPair();
    writeFileSync(join(d, 'keys.sealed'), seal(secret, 'keys', Buffer.concat([hpke.privateKey, signing.privateKey])));
    const r = ring(d, T0);
    expect(r.current.keyId).toBe(keyIdOf(hpke.publicKey));
    expect(r.rotateIfDue(T0 + HOUR - 1)).toBe(false);
  });

  it('changes nothing when the keys file cannot be written', () => {
    const d = dir();
    const r = ring(d);
    const file = join(d, 'keys.sealed');
    const before = r.current.keyId;
    // A non-empty directory where the file goes: the atomic replace fails, even for root.
    rmSync(file);
    mkdirSync(join(file, 'x'), { recursive: true });
    expect(() => r.rotateIfDue(T0 + HOUR)).toThrow();
    expect(r.keyIds).toEqual([before]);
    expect(r.rotations).toBe(0);
  });
});

describe('EnclaveCore with key rotation', () => {
  const platform = generateSigningKeyPair();
  const gw = makeGateway('gw-1');
  const core = (d: string): EnclaveCore =>
    new EnclaveCore({
      dataDir: d,
      platformPrivateKey: platform.privateKey,
      measurement: 'ab'.repeat(32),
      enrolledGateways: [{ id: gw.id, signingPublicKey: gw.signing.publicKey, hpkePublicKey: gw.hpke.publicKey }],
      keyPolicy: policy,
    });

  it('opens a file sealed to a retired key within retention (result signed by that pair), refuses it past retention', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const d = dir();
    const c = core(d);
    const oldKey = c.publicKey;
    const oldSigner = c.signingPublicKey;
    const f0 = sealedBatch(gw, oldKey, 'p1', 0, 0, 10_000);
    const f1 = sealedBatch(gw, oldKey, 'p1', 1, 10_000, 20_000);
    vi.setSystemTime(T0 + HOUR);
    c.quote(new Uint8Array(32));
    expect(c.keyId).not.toBe(keyIdOf(oldKey));
    const out = c.processBatch([f0]);
    expect(out.rejected).toEqual([]);
    // The gateway attested the old pair before sealing to it: the result is signed with that pair's key.
    expect(openEnvelope(gw.hpke.privateKey, out.results[0]!.bytes, { expectedKind: 'hrv-result', senderKey: () => oldSigner }).header.seq).toBe(0);
    // After a restart, past the retention: refused, with the reason, and the state is untouched.
    vi.setSystemTime(T0 + 3 * HOUR + 1);
    const later = core(d);
    const refused = later.processBatch([f1]);
    expect(refused.rejected).toEqual([expect.objectContaining({ code: 'HRV_ERR_KEY_RETIRED', reason: expect.stringMatching(/beyond the retention/) })]);
    expect(later.processBatch([sealedBatch(gw, later.publicKey, 'p1', 1, 10_000, 20_000)]).rejected).toEqual([]);
  });
});
