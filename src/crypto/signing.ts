/**
 * Ed25519 signing with raw 32-byte keys (node:crypto), for gateway batch signatures, enclave result
 * signatures and platform quotes. KeyObjects are cached per key buffer because importing costs more than
 * a signature.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { HrvaultError } from '../errors.js';

/** A raw Ed25519 key pair: `privateKey` is the 32-byte seed, `publicKey` the 32-byte point. */
export interface SigningKeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const privCache = new WeakMap<Uint8Array, KeyObject>();
const pubCache = new WeakMap<Uint8Array, KeyObject>();

function checkLen(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new HrvaultError('HRV_ERR_CONFIG', `${what} must be 32 raw bytes`);
}

function privObj(seed: Uint8Array): KeyObject {
  let k = privCache.get(seed);
  if (!k) {
    checkLen(seed, 'Ed25519 private key');
    k = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    privCache.set(seed, k);
  }
  return k;
}

function pubObj(pk: Uint8Array): KeyObject {
  let k = pubCache.get(pk);
  if (!k) {
    checkLen(pk, 'Ed25519 public key');
    k = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pk]), format: 'der', type: 'spki' });
    pubCache.set(pk, k);
  }
  return k;
}

/** The node:crypto KeyObject of a raw Ed25519 seed, for libraries that sign with KeyObjects (jose). Cached. */
export function signingKeyObject(seed: Uint8Array): KeyObject {
  return privObj(seed);
}

/** A fresh Ed25519 key pair (raw bytes). */
export function generateSigningKeyPair(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey: new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length)),
    publicKey: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length)),
  };
}

/** The public key of a raw Ed25519 seed. */
export function signingPublicKeyOf(privateKey: Uint8Array): Uint8Array {
  return new Uint8Array(createPublicKey(privObj(privateKey)).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length));
}

/** Ed25519 signature (64 bytes) of `data`. */
export function signBytes(privateKey: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, data, privObj(privateKey)));
}

/** True when `signature` is a valid Ed25519 signature of `data` under `publicKey`; false for any malformed input. */
export function verifyBytes(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    return verify(null, data, pubObj(publicKey), signature);
  } catch {
    // A key that does not import is simply not the signer; callers report the failure with their own code.
    return false;
  }
}
