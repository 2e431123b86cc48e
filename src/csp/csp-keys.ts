/**
 * The CSP's own keys: its handshake identity, the access-token signing key, the record KEK ring, the
 * blind-index key, the audit MAC key, the Paillier private key and the aggregate MAC key. They live only in
 * the CSP process and its key file (mode 0600); nothing here is ever sent to the SP except the Paillier
 * public key.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { readFile, writeFile, rename } from 'node:fs/promises';
import { z } from 'zod';
import { generateIdentity, type IdentityKeyPair } from '../crypto/index.js';
import {
  exportPaillierPrivateKey,
  generatePaillierKeys,
  importPaillierPrivateKey,
  type PaillierKeyPair,
} from '../crypto/index.js';
import { ConfigError } from '../errors.js';
import type { KekRing } from './record-crypto.js';

export interface CspKeys {
  identity: IdentityKeyPair;
  token: { privateKey: KeyObject; publicKey: KeyObject };
  kek: KekRing;
  indexKey: Buffer;
  auditKey: Buffer;
  paillier: PaillierKeyPair;
  /** Seed of the homomorphic MAC on Paillier aggregates (32 bytes; see aggregates.ts): never leaves the CSP. */
  aggregateMacKey: Buffer;
}

/** Generates a fresh key set (Paillier modulus `paillierBits`, 2048 in production). */
export async function generateCspKeys(id = 'csp', paillierBits = 2048): Promise<CspKeys> {
  const token = generateKeyPairSync('ed25519');
  return {
    identity: generateIdentity(id),
    token,
    kek: { current: 1, keys: new Map([[1, randomBytes(32)]]) },
    indexKey: randomBytes(32),
    auditKey: randomBytes(32),
    paillier: await generatePaillierKeys(paillierBits),
    aggregateMacKey: randomBytes(32),
  };
}

const b64 = z.string().regex(/^[A-Za-z0-9_-]+$/);
const fileSchema = z.strictObject({
  v: z.literal(1),
  id: z.string().min(1),
  identity: b64,
  token: b64,
  kek: z.strictObject({ current: z.number().int().min(1), keys: z.record(z.string(), b64) }),
  index_key: b64,
  audit_key: b64,
  paillier: z.strictObject({ p: z.string(), q: z.string() }),
  // Absent from key files written before aggregates carried a MAC: derived then (see loadCspKeys).
  aggregate_mac_key: b64.optional(),
});

function pkcs8(key: KeyObject): string {
  return key.export({ format: 'der', type: 'pkcs8' }).toString('base64url');
}

function fromPkcs8(s: string): KeyObject {
  return createPrivateKey({ key: Buffer.from(s, 'base64url'), format: 'der', type: 'pkcs8' });
}

/** Writes the key set to `path` (mode 0600, atomic rename). */
export async function saveCspKeys(path: string, keys: CspKeys): Promise<void> {
  const body = {
    v: 1,
    id: keys.identity.id,
    identity: pkcs8(keys.identity.privateKey),
    token: pkcs8(keys.token.privateKey),
    kek: { current: keys.kek.current, keys: Object.fromEntries([...keys.kek.keys].map(([v, k]) => [String(v), k.toString('base64url')])) },
    index_key: keys.indexKey.toString('base64url'),
    audit_key: keys.auditKey.toString('base64url'),
    paillier: exportPaillierPrivateKey(keys.paillier.privateKey),
    aggregate_mac_key: keys.aggregateMacKey.toString('base64url'),
  };
  await writeFile(`${path}.tmp`, JSON.stringify(body), { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/** Reads a key set written by saveCspKeys; a malformed file is a ConfigError naming the field. */
export async function loadCspKeys(path: string): Promise<CspKeys> {
  let parsed: z.infer<typeof fileSchema>;
  try {
    const r = fileSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    if (!r.success) throw new ConfigError(`CSP key file ${path}: ${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message}`);
    parsed = r.data;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`CSP key file ${path} cannot be read`, { cause: err });
  }
  const identityKey = fromPkcs8(parsed.identity);
  const tokenKey = fromPkcs8(parsed.token);
  return {
    identity: { id: parsed.id, privateKey: identityKey, publicKey: createPublicKey(identityKey) },
    token: { privateKey: tokenKey, publicKey: createPublicKey(tokenKey) },
    kek: { current: parsed.kek.current, keys: new Map(Object.entries(parsed.kek.keys).map(([v, k]) => [Number(v), Buffer.from(k, 'base64url')])) },
    indexKey: Buffer.from(parsed.index_key, 'base64url'),
    auditKey: Buffer.from(parsed.audit_key, 'base64url'),
    paillier: importPaillierPrivateKey(parsed.paillier),
    aggregateMacKey:
      parsed.aggregate_mac_key !== undefined
        ? Buffer.from(parsed.aggregate_mac_key, 'base64url')
        : // An older key file: a key of its own, separated from the audit key by HKDF, so the file need not be rewritten.
          Buffer.from(hkdfSync('sha256', Buffer.from(parsed.audit_key, 'base64url'), Buffer.alloc(0), 'hrvault aggregate-mac seed v1', 32)),
  };
}
