import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLUSTER_SECRETS_FILE,
  createClusterSecrets,
  decodeClusterSecrets,
  encodeClusterSecrets,
  loadClusterSecrets,
  sameClusterSecrets,
  saveClusterSecrets,
} from './cluster-secrets.js';
import { KeyRing, NO_ROTATION } from './keyring.js';
import { loadSealingSecret } from './sealing.js';

const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cluster-secrets-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('cluster secrets', () => {
  it('round-trip through their encoding and through the sealed file; the ring they carry is the same ring', () => {
    const s = createClusterSecrets(Date.UTC(2026, 0, 1));
    expect(s.stateSecret).toHaveLength(32);
    const back = decodeClusterSecrets(encodeClusterSecrets(s));
    expect(sameClusterSecrets(s, back)).toBe(true);
    expect(sameClusterSecrets(s, createClusterSecrets())).toBe(false);
    const a = KeyRing.fromPortable(s.ring, NO_ROTATION);
    const b = KeyRing.fromPortable(back.ring, NO_ROTATION);
    expect(b.current.publicKey).toEqual(a.current.publicKey);
    expect(b.current.signingPublicKey).toEqual(a.current.signingPublicKey);
    expect(a.toPortable()).toEqual(s.ring);

    const d = dir();
    const secret = loadSealingSecret(join(d, 'seal.key'));
    expect(loadClusterSecrets(d, secret)).toBeNull();
    saveClusterSecrets(d, secret, s);
    // Sealed: neither the state secret nor a private key is in the file.
    const onDisk = readFileSync(join(d, CLUSTER_SECRETS_FILE));
    expect(onDisk.includes(Buffer.from(s.stateSecret))).toBe(false);
    expect(onDisk.includes(Buffer.from(s.ring.pairs[0]!.hpke))).toBe(false);
    expect(sameClusterSecrets(loadClusterSecrets(d, secret)!, s)).toBe(true);
  });

  it('refuses malformed encodings and a file sealed under another platform secret or altered, with HRV_ERR_SEALING', () => {
    const s = createClusterSecrets();
    const good = JSON.parse(Buffer.from(encodeClusterSecrets(s)).toString()) as Record<string, unknown>;
    const bad = [
      Buffer.from('not json'),
      Buffer.from(JSON.stringify({ ...good, v: 2 })),
      Buffer.from(JSON.stringify({ ...good, state_secret: 'ab'.repeat(31) })),
      Buffer.from(JSON.stringify({ ...good, extra: 1 })),
      Buffer.from(JSON.stringify({ ...good, ring: { v: 2, pairs: [], forgotten: [] } })),
    ];
    for (const b of bad)
      expect(() => decodeClusterSecrets(b)).toThrow(expect.objectContaining({ code: 'HRV_ERR_SEALING' }));
    expect(() => encodeClusterSecrets({ ...s, stateSecret: new Uint8Array(16) })).toThrow(
      expect.objectContaining({ code: 'HRV_ERR_SEALING' }),
    );

    const d = dir();
    saveClusterSecrets(d, loadSealingSecret(join(d, 'seal.key')), s);
    expect(() => loadClusterSecrets(d, new Uint8Array(32).fill(7))).toThrow(
      expect.objectContaining({ code: 'HRV_ERR_SEALING' }),
    );
    const file = join(d, CLUSTER_SECRETS_FILE);
    const blob = readFileSync(file);
    blob[blob.length - 20]! ^= 1;
    writeFileSync(file, blob);
    expect(existsSync(file)).toBe(true);
    expect(() => loadClusterSecrets(d, loadSealingSecret(join(d, 'seal.key')))).toThrow(
      expect.objectContaining({ code: 'HRV_ERR_SEALING' }),
    );
  });
});
