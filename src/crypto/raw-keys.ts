/**
 * Raw 32-byte X25519 and Ed25519 keys to and from node:crypto KeyObjects, without the pattern that deadlocks
 * Node 20: exporting a KeyObject that generateKeyPairSync returned as JWK. ExportJWKEdKey holds the key's mutex
 * while it allocates the JWK's strings; if that allocation starts a scavenge which collects the generation job,
 * the job's destructor (~KeyPairGenConfig) takes the same non-recursive mutex and the thread waits on itself.
 *
 * The rules this module keeps (docs/decisions.md, "Raw X25519/Ed25519 keys without the Node 20 deadlock"):
 * - no KeyObject is ever exported as JWK;
 * - a generated key's public bytes come from the generation job's own encoded output, written while the job is
 *   still running (its wrapper is the receiver of the call, so it cannot be collected then);
 * - a KeyObject that shares a generation job's mutex is used only for diffieHellman, which takes no key lock;
 * - everything else (long-lived keys) is imported, which creates a fresh key with a mutex of its own.
 * JWK *import* stays for peers' public keys on the per-message path: it builds a new key from raw bytes
 * (about 15 µs against about 200 µs for DER, whose OpenSSL 3 decoder lookup dominates) and no job owns that key.
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { HrvaultError } from '../errors.js';

/** Length of a raw X25519 or Ed25519 key (public or private), bytes. */
export const RAW_KEY_BYTES = 32;

/** A raw key had the wrong length, was not a valid point, or an encoding did not have the expected shape. */
export class RawKeyError extends HrvaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HRV_ERR_RAW_KEY', message, options);
    this.name = 'RawKeyError';
  }
}

/** The two curves this module handles. */
export type RawKeyCurve = 'x25519' | 'ed25519';

// RFC 8410 encodings of a 32-byte key: everything before the key bytes is fixed for a given curve.
const SPKI_PREFIX: Record<RawKeyCurve, Buffer> = {
  x25519: Buffer.from('302a300506032b656e032100', 'hex'),
  ed25519: Buffer.from('302a300506032b6570032100', 'hex'),
};
const PKCS8_PREFIX: Record<RawKeyCurve, Buffer> = {
  x25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
  ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
};
const JWK_CRV: Record<RawKeyCurve, string> = { x25519: 'X25519', ed25519: 'Ed25519' };

/** A raw key pair, 32 bytes each. */
export interface RawKeyPair {
  publicKey: Buffer;
  privateKey: Buffer;
}

function checkRaw(raw: Uint8Array, what: string): void {
  if (!(raw instanceof Uint8Array) || raw.length !== RAW_KEY_BYTES) {
    throw new RawKeyError(`${what} must be ${RAW_KEY_BYTES} bytes (got ${raw instanceof Uint8Array ? raw.length : typeof raw})`);
  }
}

function stripPrefix(der: Buffer, prefix: Buffer, what: string): Buffer {
  if (der.length !== prefix.length + RAW_KEY_BYTES || !der.subarray(0, prefix.length).equals(prefix)) {
    throw new RawKeyError(`${what} does not have the RFC 8410 shape`);
  }
  return Buffer.from(der.subarray(prefix.length));
}

/**
 * A new long-lived key pair as raw bytes. Both halves are DER-encoded by the generation job itself, so no
 * KeyObject tied to the job exists; this costs about 0.2 ms more than KeyObjects, which is fine for keys that
 * are made once (per-message keys use `ephemeralX25519`).
 */
export function generateRawKeyPair(curve: RawKeyCurve): RawKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync(curve as 'x25519', {
    publicKeyEncoding: { format: 'der', type: 'spki' },
    privateKeyEncoding: { format: 'der', type: 'pkcs8' },
  });
  return {
    publicKey: stripPrefix(publicKey, SPKI_PREFIX[curve], `generated ${curve} public key`),
    privateKey: stripPrefix(privateKey, PKCS8_PREFIX[curve], `generated ${curve} private key`),
  };
}

/** A private KeyObject from raw bytes (DER import: about 0.8 ms, so callers cache the result for long-lived keys). */
export function importRawPrivateKey(curve: RawKeyCurve, raw: Uint8Array): KeyObject {
  checkRaw(raw, `${curve} private key`);
  try {
    return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX[curve], raw]), format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new RawKeyError(`${curve} private key could not be imported`, { cause: err });
  }
}

/**
 * A public KeyObject from raw bytes. JWK import builds the key straight from the raw point (about 15 µs); it
 * creates a key no generation job owns, so it cannot meet the deadlock (that needs a JWK *export* of a job's key).
 */
export function importRawPublicKey(curve: RawKeyCurve, raw: Uint8Array): KeyObject {
  checkRaw(raw, `${curve} public key`);
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: JWK_CRV[curve], x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
  } catch (err) {
    throw new RawKeyError(`${curve} public key could not be imported`, { cause: err });
  }
}

function curveOf(key: KeyObject): RawKeyCurve {
  if (key.asymmetricKeyType === 'x25519' || key.asymmetricKeyType === 'ed25519') return key.asymmetricKeyType;
  throw new RawKeyError(`expected an X25519 or Ed25519 key, got ${key.asymmetricKeyType ?? key.type}`);
}

/** The raw public bytes of a public or private KeyObject (DER export, which takes no key lock; about 0.2 ms). */
export function rawPublicKeyOf(key: KeyObject): Buffer {
  const curve = curveOf(key);
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return stripPrefix(pub.export({ format: 'der', type: 'spki' }), SPKI_PREFIX[curve], `${curve} public key`);
}

/** The raw private bytes of a private KeyObject (DER export, which takes no key lock). */
export function rawPrivateKeyOf(key: KeyObject): Buffer {
  const curve = curveOf(key);
  if (key.type !== 'private') throw new RawKeyError('not a private key');
  return stripPrefix(key.export({ format: 'der', type: 'pkcs8' }), PKCS8_PREFIX[curve], `${curve} private key`);
}

// Node returns the half without an encoding as a KeyObject; @types/node only describes both-or-neither.
type EncodedPublicKeyObjectPrivate = (
  type: 'x25519',
  options: { publicKeyEncoding: { format: 'jwk' } },
) => { publicKey: JsonWebKey; privateKey: KeyObject };
const generateEncodedPublic = generateKeyPairSync as unknown as EncodedPublicKeyObjectPrivate;

/** A one-use X25519 key: the private half only for `agree`, the public half as raw bytes. */
export interface EphemeralX25519 {
  readonly publicKey: Buffer;
  /** X25519(ephemeral private, peer): the 32-byte shared secret; throws RawKeyError for a small-order peer. */
  agree(peer: KeyObject): Buffer;
}

/**
 * A fresh ephemeral X25519 key at the cost of the old KeyObject + JWK-export path (about 0.1 ms). The public
 * half is encoded by the generation job while it runs, so nothing exports a KeyObject afterwards; the private
 * KeyObject still shares the job's mutex, so it never leaves this closure and only meets diffieHellman, which
 * derives without taking the key's lock. DER output here would cost about 0.17 ms more per key (OpenSSL 3's
 * encoder lookup), which is what made an earlier DER-only HPKE several times slower.
 */
export function ephemeralX25519(): EphemeralX25519 {
  const { publicKey, privateKey } = generateEncodedPublic('x25519', { publicKeyEncoding: { format: 'jwk' } });
  const x = publicKey.x;
  const raw = typeof x === 'string' ? Buffer.from(x, 'base64url') : Buffer.alloc(0);
  if (publicKey.crv !== 'X25519' || raw.length !== RAW_KEY_BYTES) throw new RawKeyError('generated X25519 public key has an unexpected shape');
  return {
    publicKey: raw,
    agree: (peer) => x25519(privateKey, peer),
  };
}

/** X25519 between a private and a public KeyObject; RawKeyError when the result would be all zero (small-order peer). */
export function x25519(privateKey: KeyObject, publicKey: KeyObject): Buffer {
  try {
    return diffieHellman({ privateKey, publicKey });
  } catch (err) {
    // OpenSSL refuses the all-zero output a small-order point yields (RFC 7748 §6.1, RFC 9180 §7.1.4).
    throw new RawKeyError('X25519 key agreement failed (invalid or small-order public key)', { cause: err });
  }
}
