/**
 * HPKE (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256, on node:crypto. AES-256-GCM
 * is the AEAD the pipeline uses; AES-128-GCM is kept so the RFC's Appendix A.1 vectors can check the
 * whole construction. Written here (not taken from @hpke/core) because the library's WebCrypto path is
 * about 20× slower than node:crypto on this machine; @hpke/core is the interop check in the tests.
 */
import { createCipheriv, createDecipheriv, createHmac, type KeyObject } from 'node:crypto';
import { HrvaultError } from '../errors.js';
import { ephemeralX25519, generateRawKeyPair, importRawPrivateKey, importRawPublicKey, rawPublicKeyOf, x25519 } from './raw-keys.js';

/** An HPKE operation failed: bad key bytes, malformed encapsulation, or the ciphertext did not open. */
export class HpkeError extends HrvaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HRV_ERR_HPKE', message, options);
    this.name = 'HpkeError';
  }
}

/** The AEADs this module implements (RFC 9180 ids 0x0001 and 0x0002). */
export type HpkeAead = 'aes-128-gcm' | 'aes-256-gcm';

/** A raw X25519 key pair (32 bytes each). */
export interface HpkeKeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

const KEM_ID = 0x0020;
const KDF_ID = 0x0001;
const N_SECRET = 32;
const N_ENC = 32;
const N_NONCE = 12;
const TAG_BYTES = 16;
const MODE_BASE = 0x00;

const VERSION_LABEL = Buffer.from('HPKE-v1');
const KEM_SUITE_ID = Buffer.from([0x4b, 0x45, 0x4d, KEM_ID >> 8, KEM_ID & 0xff]); // "KEM" ‖ kem_id

interface AeadParams {
  id: number;
  cipher: 'aes-128-gcm' | 'aes-256-gcm';
  nk: number;
  suiteId: Buffer;
  pskIdHash: Buffer;
}

function i2osp2(n: number): Buffer {
  return Buffer.from([(n >> 8) & 0xff, n & 0xff]);
}

function extract(salt: Uint8Array, ikm: Uint8Array): Buffer {
  // RFC 5869: an empty salt means HashLen zero bytes, which is what HMAC does with an empty key anyway.
  return createHmac('sha256', salt.length === 0 ? Buffer.alloc(32) : salt).update(ikm).digest();
}

function expand(prk: Uint8Array, info: Uint8Array, length: number): Buffer {
  const out = Buffer.alloc(length);
  let prev: Buffer = Buffer.alloc(0);
  let filled = 0;
  for (let i = 1; filled < length; i++) {
    prev = createHmac('sha256', prk).update(prev).update(info).update(Buffer.from([i])).digest();
    prev.copy(out, filled);
    filled += prev.length;
  }
  return out;
}

function labeledExtract(suiteId: Buffer, salt: Uint8Array, label: string, ikm: Uint8Array): Buffer {
  return extract(salt, Buffer.concat([VERSION_LABEL, suiteId, Buffer.from(label), ikm]));
}

function labeledExpand(suiteId: Buffer, prk: Uint8Array, label: string, info: Uint8Array, length: number): Buffer {
  return expand(prk, Buffer.concat([i2osp2(length), VERSION_LABEL, suiteId, Buffer.from(label), info]), length);
}

function aeadParams(aead: HpkeAead): AeadParams {
  const id = aead === 'aes-128-gcm' ? 0x0001 : 0x0002;
  const suiteId = Buffer.concat([Buffer.from('HPKE'), i2osp2(KEM_ID), i2osp2(KDF_ID), i2osp2(id)]);
  return { id, cipher: aead, nk: aead === 'aes-128-gcm' ? 16 : 32, suiteId, pskIdHash: labeledExtract(suiteId, Buffer.alloc(0), 'psk_id_hash', Buffer.alloc(0)) };
}

const AEADS: Record<HpkeAead, AeadParams> = { 'aes-128-gcm': aeadParams('aes-128-gcm'), 'aes-256-gcm': aeadParams('aes-256-gcm') };

function checkKeyBytes(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new HpkeError(`${what} must be 32 bytes (got ${key instanceof Uint8Array ? key.length : typeof key})`);
}

// KeyObjects are cached per key buffer: the recipient's long-lived keys are imported once, not on every seal
// or open (a DER private import costs about 0.8 ms, ten times the whole KEM).
const privateKeyCache = new WeakMap<Uint8Array, KeyObject>();
const publicKeyCache = new WeakMap<Uint8Array, KeyObject>();
const recipientPublicCache = new WeakMap<Uint8Array, Uint8Array>();

function privateKeyObject(sk: Uint8Array): KeyObject {
  let k = privateKeyCache.get(sk);
  if (k === undefined) {
    checkKeyBytes(sk, 'X25519 private key');
    k = asHpkeError(() => importRawPrivateKey('x25519', sk));
    privateKeyCache.set(sk, k);
  }
  return k;
}

function publicKeyObject(pk: Uint8Array): KeyObject {
  let k = publicKeyCache.get(pk);
  if (k === undefined) {
    checkKeyBytes(pk, 'X25519 public key');
    k = asHpkeError(() => importRawPublicKey('x25519', pk));
    publicKeyCache.set(pk, k);
  }
  return k;
}

/** The recipient's raw public key, derived once per private key buffer. */
function recipientPublic(skR: Uint8Array): Uint8Array {
  let pk = recipientPublicCache.get(skR);
  if (pk === undefined) {
    pk = new Uint8Array(rawPublicKeyOf(privateKeyObject(skR)));
    recipientPublicCache.set(skR, pk);
  }
  return pk;
}

function asHpkeError<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof HpkeError) throw err;
    throw new HpkeError(err instanceof Error ? err.message : String(err), { cause: err });
  }
}

function kemSharedSecret(dhOut: Uint8Array, enc: Uint8Array, pkR: Uint8Array): Buffer {
  const prk = labeledExtract(KEM_SUITE_ID, Buffer.alloc(0), 'eae_prk', dhOut);
  return labeledExpand(KEM_SUITE_ID, prk, 'shared_secret', Buffer.concat([enc, pkR]), N_SECRET);
}

/** A fresh X25519 key pair for HPKE (raw 32-byte keys). */
export function generateHpkeKeyPair(): HpkeKeyPair {
  const { privateKey, publicKey } = generateRawKeyPair('x25519');
  return { publicKey: new Uint8Array(publicKey), privateKey: new Uint8Array(privateKey) };
}

/** The public half of a raw X25519 private key. */
export function hpkePublicKeyOf(privateKey: Uint8Array): Uint8Array {
  return new Uint8Array(rawPublicKeyOf(privateKeyObject(privateKey)));
}

/** RFC 9180 DeriveKeyPair for DHKEM(X25519): deterministic keys from input keying material (tests, vectors). */
export function deriveHpkeKeyPair(ikm: Uint8Array): HpkeKeyPair {
  const prk = labeledExtract(KEM_SUITE_ID, Buffer.alloc(0), 'dkp_prk', ikm);
  const sk = new Uint8Array(labeledExpand(KEM_SUITE_ID, prk, 'sk', Buffer.alloc(0), 32));
  return { privateKey: sk, publicKey: hpkePublicKeyOf(sk) };
}

/** Key-schedule output of a base-mode HPKE context. */
export interface HpkeSchedule {
  sharedSecret: Uint8Array;
  key: Uint8Array;
  baseNonce: Uint8Array;
  exporterSecret: Uint8Array;
}

function keySchedule(p: AeadParams, sharedSecret: Uint8Array, info: Uint8Array): HpkeSchedule {
  const infoHash = labeledExtract(p.suiteId, Buffer.alloc(0), 'info_hash', info);
  const context = Buffer.concat([Buffer.from([MODE_BASE]), p.pskIdHash, infoHash]);
  const secret = labeledExtract(p.suiteId, sharedSecret, 'secret', Buffer.alloc(0));
  return {
    sharedSecret,
    key: labeledExpand(p.suiteId, secret, 'key', context, p.nk),
    baseNonce: labeledExpand(p.suiteId, secret, 'base_nonce', context, N_NONCE),
    exporterSecret: labeledExpand(p.suiteId, secret, 'exp', context, 32),
  };
}

/**
 * A base-mode HPKE context (RFC 9180 §5.2): seals or opens a sequence of messages with nonces base_nonce ⊕ seq.
 * One-shot `hpkeSeal`/`hpkeOpen` use sequence number 0 only.
 */
export class HpkeContext {
  readonly enc: Uint8Array;
  readonly schedule: HpkeSchedule;
  readonly #p: AeadParams;
  #seq = 0;

  constructor(p: AeadParams, enc: Uint8Array, schedule: HpkeSchedule) {
    this.#p = p;
    this.enc = enc;
    this.schedule = schedule;
  }

  #nonce(): Buffer {
    const n = Buffer.from(this.schedule.baseNonce);
    let s = this.#seq;
    for (let i = N_NONCE - 1; i >= N_NONCE - 6 && s > 0; i--) {
      n[i]! ^= s & 0xff;
      s = Math.floor(s / 256);
    }
    return n;
  }

  /** AEAD-seals `plaintext` with `aad` under the next sequence number; returns ciphertext ‖ 16-byte tag. */
  seal(aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const c = createCipheriv(this.#p.cipher, this.schedule.key, this.#nonce(), { authTagLength: TAG_BYTES });
    c.setAAD(aad);
    const out = Buffer.allocUnsafe(plaintext.length + TAG_BYTES);
    let n = c.update(plaintext).copy(out, 0);
    n += c.final().copy(out, n);
    c.getAuthTag().copy(out, n);
    this.#seq++;
    return new Uint8Array(out.buffer, out.byteOffset, plaintext.length + TAG_BYTES);
  }

  /** Opens ciphertext ‖ tag under the next sequence number; throws HpkeError and releases nothing if it does not verify. */
  open(aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (ciphertext.length < TAG_BYTES) throw new HpkeError(`ciphertext of ${ciphertext.length} bytes is shorter than the 16-byte tag`);
    const body = ciphertext.subarray(0, ciphertext.length - TAG_BYTES);
    const d = createDecipheriv(this.#p.cipher, this.schedule.key, this.#nonce(), { authTagLength: TAG_BYTES });
    d.setAAD(aad);
    d.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_BYTES));
    const out = Buffer.allocUnsafe(body.length);
    const n = d.update(body).copy(out, 0);
    try {
      d.final();
    } catch (err) {
      out.fill(0); // the unauthenticated plaintext must not outlive the failed check
      throw new HpkeError('ciphertext did not authenticate (tampered, wrong key, or wrong associated data)', { cause: err });
    }
    this.#seq++;
    return new Uint8Array(out.buffer, out.byteOffset, n);
  }
}

/** RFC 9180 SetupBaseS; `ephemeral` fixes the ephemeral key (test vectors only). */
export function setupBaseSender(pkR: Uint8Array, info: Uint8Array, aead: HpkeAead = 'aes-256-gcm', ephemeral?: HpkeKeyPair): HpkeContext {
  const p = AEADS[aead];
  const pkRObj = publicKeyObject(pkR);
  let dhOut: Buffer;
  let enc: Uint8Array;
  if (ephemeral) {
    dhOut = asHpkeError(() => x25519(privateKeyObject(ephemeral.privateKey), pkRObj));
    enc = ephemeral.publicKey;
  } else {
    const e = ephemeralX25519();
    dhOut = asHpkeError(() => e.agree(pkRObj));
    enc = new Uint8Array(e.publicKey);
  }
  const shared = kemSharedSecret(dhOut, enc, pkR);
  return new HpkeContext(p, enc, keySchedule(p, shared, info));
}

/** RFC 9180 SetupBaseR. */
export function setupBaseRecipient(skR: Uint8Array, enc: Uint8Array, info: Uint8Array, aead: HpkeAead = 'aes-256-gcm'): HpkeContext {
  const p = AEADS[aead];
  if (!(enc instanceof Uint8Array) || enc.length !== N_ENC) throw new HpkeError(`encapsulated key must be ${N_ENC} bytes`);
  const sk = privateKeyObject(skR);
  const pkR = recipientPublic(skR);
  // `enc` is new on every open, so it is imported without a cache.
  const pkE = asHpkeError(() => importRawPublicKey('x25519', enc));
  const shared = kemSharedSecret(asHpkeError(() => x25519(sk, pkE)), enc, pkR);
  return new HpkeContext(p, enc, keySchedule(p, shared, info));
}

/** One-shot HPKE base-mode seal (AES-256-GCM by default): returns the encapsulated key and ciphertext ‖ tag. */
export function hpkeSeal(
  recipientPublicKey: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  aead: HpkeAead = 'aes-256-gcm',
): { enc: Uint8Array; ciphertext: Uint8Array } {
  const ctx = setupBaseSender(recipientPublicKey, info, aead);
  return { enc: ctx.enc, ciphertext: ctx.seal(aad, plaintext) };
}

/** One-shot HPKE base-mode open; throws HpkeError (and releases no plaintext) unless the tag verifies. */
export function hpkeOpen(
  privateKey: Uint8Array,
  enc: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
  aead: HpkeAead = 'aes-256-gcm',
): Uint8Array {
  return setupBaseRecipient(privateKey, enc, info, aead).open(aad, ciphertext);
}
