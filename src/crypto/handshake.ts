/**
 * Protocol I, Phase I: the CSP–SP handshake. A SIGMA-style signed ephemeral X25519 exchange with key
 * confirmation: each side signs the transcript with its pinned long-term Ed25519 identity key (the original
 * protocol's unauthenticated Diffie–Hellman was open to a man in the middle), the shared secret comes only
 * from ephemeral keys (forward secrecy), and HKDF-SHA256 over the transcript derives K_st (storage
 * direction) and K_rt (retrieval direction) with a key id that every later message carries.
 *
 * Written here rather than taken from a library because the message flow is the protocol the project
 * specifies; the primitives are node:crypto's.
 */
import { createHash, createHmac, hkdfSync, randomBytes, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { HrvaultError } from '../errors.js';
import {
  ephemeralX25519,
  generateRawKeyPair,
  importRawPrivateKey,
  importRawPublicKey,
  rawPrivateKeyOf,
  rawPublicKeyOf,
  RawKeyError,
  type EphemeralX25519,
} from './raw-keys.js';

const PROTOCOL_LABEL = 'hrvault/v1/handshake';

/** A handshake was malformed, signed by the wrong key, or failed key confirmation. */
export class HandshakeError extends HrvaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HRV_ERR_HANDSHAKE', message, options);
    this.name = 'HandshakeError';
  }
}

/** A party's long-term Ed25519 identity; the peer pins `publicKey`. */
export interface IdentityKeyPair {
  readonly id: string;
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
}

/** The keys a completed handshake yields; `keyId` names them in every later message. */
export interface SessionKeys {
  readonly keyId: string;
  /** Storage-direction key (CSP → SP records), 32 bytes. */
  readonly kSt: Buffer;
  /** Retrieval-direction key (queries and answers), 32 bytes. */
  readonly kRt: Buffer;
  /** When the keys were agreed, ms since the epoch. */
  readonly establishedAtMs: number;
}

const b64 = z.string().regex(/^[A-Za-z0-9_-]+$/, 'base64url expected').max(256);
const helloSchema = z.strictObject({
  v: z.literal(1),
  type: z.literal('hello'),
  initiator: z.string().min(1).max(128),
  responder: z.string().min(1).max(128),
  eph: b64,
  nonce: b64,
  sig: b64,
});
const replySchema = z.strictObject({ v: z.literal(1), type: z.literal('reply'), eph: b64, nonce: b64, sig: b64, confirm: b64 });
const finishSchema = z.strictObject({ v: z.literal(1), type: z.literal('finish'), sig: b64, confirm: b64 });

export type HandshakeHello = z.infer<typeof helloSchema>;
export type HandshakeReply = z.infer<typeof replySchema>;
export type HandshakeFinish = z.infer<typeof finishSchema>;

/**
 * Creates a new Ed25519 identity key pair for a party named `id`. The KeyObjects are imported from the raw
 * bytes rather than taken from the generation job, so exporting or signing with them can never meet the
 * Node 20 keygen/JWK deadlock (see raw-keys.ts); identities are made once, so the import's ~1 ms is no cost.
 */
export function generateIdentity(id: string): IdentityKeyPair {
  const raw = generateRawKeyPair('ed25519');
  return { id, publicKey: importRawPublicKey('ed25519', raw.publicKey), privateKey: importRawPrivateKey('ed25519', raw.privateKey) };
}

/** Exports an identity's public key as base64url raw bytes (what the peer pins). */
export function exportIdentityPublicKey(key: KeyObject): string {
  if (key.asymmetricKeyType !== 'ed25519') throw new HandshakeError('not an Ed25519 public key');
  return rawPublicKeyOf(key).toString('base64url');
}

/** Imports a pinned Ed25519 public key from base64url raw bytes. */
export function importIdentityPublicKey(raw: string): KeyObject {
  try {
    return importRawPublicKey('ed25519', Buffer.from(raw, 'base64url'));
  } catch (err) {
    throw new HandshakeError('pinned identity key is not a valid Ed25519 public key', { cause: err });
  }
}

/** Serialises an identity (including its private half) as JSON for the owner's own key file (RFC 8037 OKP fields). */
export function exportIdentity(identity: IdentityKeyPair): string {
  const x = rawPublicKeyOf(identity.privateKey).toString('base64url');
  const d = rawPrivateKeyOf(identity.privateKey).toString('base64url');
  return JSON.stringify({ id: identity.id, jwk: { kty: 'OKP', crv: 'Ed25519', x, d } });
}

/** Reads an identity written by exportIdentity; refuses a file whose public half does not match its private half. */
export function importIdentity(json: string): IdentityKeyPair {
  const parsed = z
    .object({ id: z.string().min(1), jwk: z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: b64, d: b64 }) })
    .parse(JSON.parse(json));
  let privateKey: KeyObject;
  try {
    privateKey = importRawPrivateKey('ed25519', Buffer.from(parsed.jwk.d, 'base64url'));
  } catch (err) {
    throw new HandshakeError('identity file holds no valid Ed25519 private key', { cause: err });
  }
  const x = rawPublicKeyOf(privateKey);
  if (!x.equals(Buffer.from(parsed.jwk.x, 'base64url'))) throw new HandshakeError('identity file: public key does not match the private key');
  return { id: parsed.id, privateKey, publicKey: importRawPublicKey('ed25519', x) };
}

function importX25519(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new HandshakeError(`ephemeral key must be 32 bytes, got ${raw.length}`);
  try {
    return importRawPublicKey('x25519', raw);
  } catch (err) {
    throw new HandshakeError('ephemeral key is not a valid X25519 public key', { cause: err });
  }
}

function agree(eph: EphemeralX25519, peer: Buffer): Buffer {
  try {
    return eph.agree(importX25519(peer));
  } catch (err) {
    if (err instanceof RawKeyError) throw new HandshakeError('ephemeral key agreement failed (invalid or small-order key)', { cause: err });
    throw err;
  }
}

function decodeFixed(field: string, value: string, length: number): Buffer {
  const buf = Buffer.from(value, 'base64url');
  if (buf.length !== length) throw new HandshakeError(`${field} must be ${length} bytes, got ${buf.length}`);
  return buf;
}

/** Length-prefixed concatenation, so no two different transcripts serialise to the same bytes. */
function transcript(parts: Array<string | Buffer>): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const b = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    chunks.push(len, b);
  }
  return Buffer.concat(chunks);
}

interface Derived {
  keys: SessionKeys;
  confirmInitiator: Buffer;
  confirmResponder: Buffer;
}

function derive(shared: Buffer, fullTranscript: Buffer, now: number): Derived {
  const salt = createHash('sha256').update(fullTranscript).digest();
  const okm = Buffer.from(hkdfSync('sha256', shared, salt, Buffer.from(`${PROTOCOL_LABEL}/keys`), 128));
  const keyId = createHash('sha256').update('key-id').update(fullTranscript).digest('hex').slice(0, 16);
  return {
    keys: { keyId, kSt: okm.subarray(0, 32), kRt: okm.subarray(32, 64), establishedAtMs: now },
    confirmInitiator: okm.subarray(64, 96),
    confirmResponder: okm.subarray(96, 128),
  };
}

function mac(key: Buffer, label: string, data: Buffer): Buffer {
  return createHmac('sha256', key).update(label).update(data).digest();
}

function checkMac(expected: Buffer, given: Buffer, who: string): void {
  if (given.length !== expected.length || !timingSafeEqual(expected, given)) {
    throw new HandshakeError(`${who} key confirmation failed`);
  }
}

function checkSig(data: Buffer, sig: Buffer, key: KeyObject, who: string): void {
  if (!verify(null, data, key, sig)) throw new HandshakeError(`${who} signature does not verify with the pinned key`);
}

function parse<T>(schema: z.ZodType<T>, msg: unknown, what: string): T {
  const r = schema.safeParse(msg);
  if (!r.success) throw new HandshakeError(`malformed ${what}: ${r.error.issues[0]?.path.join('.') ?? ''} ${r.error.issues[0]?.message ?? ''}`.trim());
  return r.data;
}

/** The initiator's side (the CSP): `hello()`, then `finish(reply)` yields the keys and the final message. */
export class HandshakeInitiator {
  readonly #identity: IdentityKeyPair;
  readonly #responderId: string;
  readonly #responderKey: KeyObject;
  readonly #eph = ephemeralX25519();
  readonly #nonce = randomBytes(32);
  #hello: HandshakeHello | undefined;
  #done = false;

  constructor(identity: IdentityKeyPair, responder: { id: string; publicKey: KeyObject }) {
    this.#identity = identity;
    this.#responderId = responder.id;
    this.#responderKey = responder.publicKey;
  }

  /** The first message: ephemeral key and nonce, signed. */
  hello(): HandshakeHello {
    const eph = this.#eph.publicKey;
    const signed = transcript([PROTOCOL_LABEL, 'hello', this.#identity.id, this.#responderId, eph, this.#nonce]);
    this.#hello = {
      v: 1,
      type: 'hello',
      initiator: this.#identity.id,
      responder: this.#responderId,
      eph: eph.toString('base64url'),
      nonce: this.#nonce.toString('base64url'),
      sig: sign(null, signed, this.#identity.privateKey).toString('base64url'),
    };
    return this.#hello;
  }

  /** Checks the responder's signature and confirmation; returns the keys and the message that confirms ours. */
  finish(replyMessage: unknown, now = Date.now()): { keys: SessionKeys; finish: HandshakeFinish } {
    if (!this.#hello || this.#done) throw new HandshakeError('finish() called out of order');
    this.#done = true;
    const reply = parse(replySchema, replyMessage, 'handshake reply');
    const ephR = decodeFixed('reply.eph', reply.eph, 32);
    const nonceR = decodeFixed('reply.nonce', reply.nonce, 32);
    const full = transcript([
      PROTOCOL_LABEL,
      this.#identity.id,
      this.#responderId,
      this.#eph.publicKey,
      this.#nonce,
      ephR,
      nonceR,
    ]);
    checkSig(transcript([full, 'reply']), decodeFixed('reply.sig', reply.sig, 64), this.#responderKey, 'responder');
    const shared = agree(this.#eph, ephR);
    const d = derive(shared, full, now);
    checkMac(mac(d.confirmResponder, 'responder', full), decodeFixed('reply.confirm', reply.confirm, 32), 'responder');
    return {
      keys: d.keys,
      finish: {
        v: 1,
        type: 'finish',
        sig: sign(null, transcript([full, 'finish']), this.#identity.privateKey).toString('base64url'),
        confirm: mac(d.confirmInitiator, 'initiator', full).toString('base64url'),
      },
    };
  }
}

/** The responder's side (the SP): `reply(hello)`, then `complete(finish)` yields the keys. */
export class HandshakeResponder {
  readonly #identity: IdentityKeyPair;
  readonly #initiatorId: string;
  readonly #initiatorKey: KeyObject;
  #pending: { full: Buffer; derived: Derived } | undefined;
  #done = false;

  constructor(identity: IdentityKeyPair, initiator: { id: string; publicKey: KeyObject }) {
    this.#identity = identity;
    this.#initiatorId = initiator.id;
    this.#initiatorKey = initiator.publicKey;
  }

  /** Verifies the signed hello and answers with our ephemeral key, signature and key confirmation. */
  reply(helloMessage: unknown, now = Date.now()): HandshakeReply {
    if (this.#pending || this.#done) throw new HandshakeError('reply() called twice');
    const hello = parse(helloSchema, helloMessage, 'handshake hello');
    if (hello.initiator !== this.#initiatorId) throw new HandshakeError(`unknown initiator ${JSON.stringify(hello.initiator)}`);
    if (hello.responder !== this.#identity.id) throw new HandshakeError('hello is addressed to another responder');
    const ephI = decodeFixed('hello.eph', hello.eph, 32);
    const nonceI = decodeFixed('hello.nonce', hello.nonce, 32);
    checkSig(
      transcript([PROTOCOL_LABEL, 'hello', hello.initiator, hello.responder, ephI, nonceI]),
      decodeFixed('hello.sig', hello.sig, 64),
      this.#initiatorKey,
      'initiator',
    );
    const eph = ephemeralX25519();
    const ephR = eph.publicKey;
    const nonceR = randomBytes(32);
    const full = transcript([PROTOCOL_LABEL, hello.initiator, this.#identity.id, ephI, nonceI, ephR, nonceR]);
    const shared = agree(eph, ephI);
    const derived = derive(shared, full, now);
    this.#pending = { full, derived };
    return {
      v: 1,
      type: 'reply',
      eph: ephR.toString('base64url'),
      nonce: nonceR.toString('base64url'),
      sig: sign(null, transcript([full, 'reply']), this.#identity.privateKey).toString('base64url'),
      confirm: mac(derived.confirmResponder, 'responder', full).toString('base64url'),
    };
  }

  /** Verifies the initiator's signature and confirmation over the whole transcript; returns the keys. */
  complete(finishMessage: unknown): SessionKeys {
    if (!this.#pending || this.#done) throw new HandshakeError('complete() called out of order');
    this.#done = true;
    const fin = parse(finishSchema, finishMessage, 'handshake finish');
    const { full, derived } = this.#pending;
    checkSig(transcript([full, 'finish']), decodeFixed('finish.sig', fin.sig, 64), this.#initiatorKey, 'initiator');
    checkMac(mac(derived.confirmInitiator, 'initiator', full), decodeFixed('finish.confirm', fin.confirm, 32), 'initiator');
    return derived.keys;
  }
}
