/**
 * Sealed-file version 2, the "epoch envelope": public-key operations once per gateway epoch, not once per file.
 *
 * A gateway draws a random 32-byte epoch secret, encapsulates it once with HPKE (base mode) to the attested enclave
 * key and signs that "opening block" once with its Ed25519 key. Every batch file of the epoch carries the same block
 * and a body under AES-256-GCM with a key derived from the secret; the enclave verifies and opens the block once
 * (and caches the secret), then each file costs one AES-GCM open. Results go back under the result-direction key of
 * the same epoch, naming it in a small "reference block": only the gateway and the enclave holding the attested
 * HPKE private key can know the secret, so a result that opens was made by that enclave. Each file stays
 * self-contained (any file of an epoch recovers its secret), so order and restarts do not matter.
 *
 * Layout (big-endian):
 *   "HRVE" | version u8 = 2 | flags u8 = 0 | header length u16 | header JSON
 *   | block length u16 | epoch block | nonce (12) | ciphertext length u32 | ciphertext ‖ tag (16)
 * Epoch block:
 *   type u8 (1 opening, on batch files; 2 reference, on results) | epoch id (16) | gateway length u8 | gateway
 *   opening only: | created ms u64 | enclave key id length u8 | key id | enc (32) | sealed secret (48) | signature (64)
 * The AEAD's associated data is everything before the ciphertext (prefix, readable header, block, nonce, length):
 * the host can read it but not change a bit of it. Bodies are padded as in version 1 (envelope-framing.ts).
 *
 * Nonces are random (96 bits), not counters: a gateway that crashes and seals again, or two enclave processes sealing
 * results of one epoch, keep no shared counter. With at most 2^20 files per key and direction (the gateway's epoch
 * bound) the chance of any nonce repeating is below 2^40 / 2^97 = 2^-57, far inside GCM's random-nonce limit of 2^32
 * messages per key (NIST SP 800-38D §8.3).
 */
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import type { EnvelopeHeader, EnvelopeKind } from '../contracts/index.js';
import { checkPrefix, ciphertextSpan, decodeHeader, encodeHeader, EnvelopeError, MAGIC, MAX_ENVELOPE_BYTES, padBody, PREFIX, TAG, unpadBody } from './envelope-framing.js';
import { hpkeOpen, hpkeSeal } from './hpke.js';
import { signBytes, verifyBytes } from './signing.js';

/** The version byte of an epoch envelope. */
export const EPOCH_ENVELOPE_VERSION = 2;
/** Bytes of an epoch id (random, drawn by the gateway). */
export const EPOCH_ID_BYTES = 16;
/** Bytes of an epoch secret. */
export const EPOCH_SECRET_BYTES = 32;

const BLOCK_OPENING = 1;
const BLOCK_REFERENCE = 2;
const NONCE = 12;
const ENC = 32;
const SEALED_SECRET = EPOCH_SECRET_BYTES + TAG;
const SIG = 64;
const MAX_BLOCK = 512;
const WIRE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SIG_CONTEXT = Buffer.from('hrvault/v2/epoch-block-signature\0');
const SECRET_INFO = Buffer.from('hrvault/v2/epoch-secret');

/** The symmetric keys of one epoch of one gateway (derived from its secret; never written anywhere). */
export interface EpochKeys {
  readonly id: Uint8Array;
  /** The epoch id in hex (32 digits), for maps and logs. */
  readonly idHex: string;
  readonly gateway: string;
  /** The signed opening block batch files carry; absent where only results are sealed. */
  readonly openingBlock?: Uint8Array;
  readonly referenceBlock: Uint8Array;
  readonly batchKey: KeyObject;
  readonly resultKey: KeyObject;
}

/** An epoch block as read from a file (not yet authenticated). */
export interface EpochBlock {
  type: 'opening' | 'reference';
  id: Uint8Array;
  idHex: string;
  gateway: string;
  /** The whole block as it appears in the file. */
  bytes: Uint8Array;
  /** Opening blocks only. */
  opening?: { createdMs: number; keyId: string; enc: Uint8Array; sealedSecret: Uint8Array; signature: Uint8Array; signedPart: Uint8Array; hpkeAad: Uint8Array };
}

/** A parsed epoch envelope (nothing authenticated yet). */
export interface ParsedEpochEnvelope {
  header: EnvelopeHeader;
  block: EpochBlock;
  aad: Uint8Array;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

function kindKey(secret: Uint8Array, id: Uint8Array, gateway: string, kind: EnvelopeKind): KeyObject {
  const info = Buffer.from(`hrvault/v2/epoch-key/${kind}\0${gateway}`);
  return createSecretKey(Buffer.from(hkdfSync('sha256', secret, id, info, 32)));
}

function checkId(id: Uint8Array, gateway: string): void {
  if (!(id instanceof Uint8Array) || id.length !== EPOCH_ID_BYTES) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `epoch id must be ${EPOCH_ID_BYTES} bytes`);
  if (!WIRE_ID.test(gateway)) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', 'epoch gateway id must be 1–64 of [A-Za-z0-9_-]');
}

function blockHead(type: number, id: Uint8Array, gateway: string): Buffer {
  const g = Buffer.from(gateway, 'ascii');
  return Buffer.concat([Buffer.from([type]), id, Buffer.from([g.length]), g]);
}

/** The keys of epoch `id` of `gateway` from its 32-byte secret; `openingBlock` is kept for sealing batch files. */
export function deriveEpochKeys(id: Uint8Array, gateway: string, secret: Uint8Array, openingBlock?: Uint8Array): EpochKeys {
  checkId(id, gateway);
  if (!(secret instanceof Uint8Array) || secret.length !== EPOCH_SECRET_BYTES) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `epoch secret must be ${EPOCH_SECRET_BYTES} bytes`);
  return {
    id: Uint8Array.from(id),
    idHex: Buffer.from(id).toString('hex'),
    gateway,
    ...(openingBlock === undefined ? {} : { openingBlock }),
    referenceBlock: new Uint8Array(blockHead(BLOCK_REFERENCE, id, gateway)),
    batchKey: kindKey(secret, id, gateway, 'rr-batch'),
    resultKey: kindKey(secret, id, gateway, 'hrv-result'),
  };
}

export interface EpochBlockParams {
  id: Uint8Array;
  secret: Uint8Array;
  gateway: string;
  /** When the epoch began (ms since the Unix epoch). */
  createdMs: number;
  /** The attested enclave's X25519 key the secret is encapsulated to, and its key id (as in headers). */
  enclavePublicKey: Uint8Array;
  enclaveKeyId: string;
  /** The gateway's Ed25519 seed: the one signature of the epoch. */
  signingPrivateKey: Uint8Array;
}

/** Builds an epoch's signed opening block (one HPKE seal and one Ed25519 signature) and returns its keys. */
export function createEpoch(p: EpochBlockParams): EpochKeys {
  checkId(p.id, p.gateway);
  if (!WIRE_ID.test(p.enclaveKeyId)) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', 'enclave key id must be 1–64 of [A-Za-z0-9_-]');
  if (!Number.isSafeInteger(p.createdMs) || p.createdMs < 0) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', 'epoch creation time must be a non-negative integer (ms)');
  const created = Buffer.alloc(8);
  created.writeBigUInt64BE(BigInt(p.createdMs));
  const k = Buffer.from(p.enclaveKeyId, 'ascii');
  const hpkeAad = Buffer.concat([blockHead(BLOCK_OPENING, p.id, p.gateway), created, Buffer.from([k.length]), k]);
  const { enc, ciphertext } = hpkeSeal(p.enclavePublicKey, SECRET_INFO, hpkeAad, p.secret);
  const signedPart = Buffer.concat([hpkeAad, enc, ciphertext]);
  const signature = signBytes(p.signingPrivateKey, Buffer.concat([SIG_CONTEXT, signedPart]));
  return deriveEpochKeys(p.id, p.gateway, p.secret, new Uint8Array(Buffer.concat([signedPart, signature])));
}

function parseBlock(b: Buffer, start: number, end: number): EpochBlock {
  const bad = (what: string): never => {
    throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `epoch block malformed: ${what}`);
  };
  const blk = b.subarray(start, end);
  if (blk.length < 1 + EPOCH_ID_BYTES + 1) bad(`${blk.length} bytes is shorter than its fixed part`);
  const type = blk[0]!;
  if (type !== BLOCK_OPENING && type !== BLOCK_REFERENCE) bad(`unknown block type ${type}`);
  const id = blk.subarray(1, 1 + EPOCH_ID_BYTES);
  const gLen = blk[1 + EPOCH_ID_BYTES]!;
  let at = 2 + EPOCH_ID_BYTES;
  if (blk.length < at + gLen) bad('it ends inside its gateway id');
  const gateway = blk.subarray(at, at + gLen).toString('latin1');
  if (!WIRE_ID.test(gateway)) bad('gateway id must be 1–64 of [A-Za-z0-9_-]');
  at += gLen;
  const out: EpochBlock = { type: type === BLOCK_OPENING ? 'opening' : 'reference', id: new Uint8Array(id), idHex: id.toString('hex'), gateway, bytes: new Uint8Array(blk.buffer, blk.byteOffset, blk.length) };
  if (type === BLOCK_REFERENCE) {
    if (at !== blk.length) bad(`${blk.length - at} bytes after a reference block`);
    return out;
  }
  if (blk.length < at + 9) bad('it ends inside its creation time or key id');
  const createdBig = blk.readBigUInt64BE(at);
  if (createdBig > BigInt(Number.MAX_SAFE_INTEGER)) bad('creation time out of range');
  at += 8;
  const kLen = blk[at]!;
  at += 1;
  if (blk.length < at + kLen) bad('it ends inside its enclave key id');
  const keyId = blk.subarray(at, at + kLen).toString('latin1');
  if (!WIRE_ID.test(keyId)) bad('enclave key id must be 1–64 of [A-Za-z0-9_-]');
  at += kLen;
  const aadEnd = at;
  if (blk.length !== at + ENC + SEALED_SECRET + SIG) bad(`an opening block needs ${at + ENC + SEALED_SECRET + SIG} bytes, it has ${blk.length}`);
  const sub = (from: number, len: number): Uint8Array => new Uint8Array(blk.buffer, blk.byteOffset + from, len);
  out.opening = {
    createdMs: Number(createdBig),
    keyId,
    enc: sub(at, ENC),
    sealedSecret: sub(at + ENC, SEALED_SECRET),
    signature: sub(at + ENC + SEALED_SECRET, SIG),
    signedPart: sub(0, at + ENC + SEALED_SECRET),
    hpkeAad: sub(0, aadEnd),
  };
  return out;
}

/** Parses an epoch envelope's framing strictly; throws EnvelopeError (TRUNCATED, MALFORMED, EPOCH) naming the problem. */
export function parseEpochEnvelope(bytes: Uint8Array): ParsedEpochEnvelope {
  const { b, headerEnd } = checkPrefix(bytes, EPOCH_ENVELOPE_VERSION, 0);
  if (b.length < headerEnd + 2) throw new EnvelopeError('HRV_ERR_ENVELOPE_TRUNCATED', 'sealed file ends inside its header or epoch block length');
  const header = decodeHeader(b, headerEnd);
  const bLen = b.readUInt16BE(headerEnd);
  if (bLen === 0 || bLen > MAX_BLOCK) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `epoch block length ${bLen} is outside 1–${MAX_BLOCK}`);
  const blockStart = headerEnd + 2;
  const nonceAt = blockStart + bLen;
  if (b.length < nonceAt + NONCE + 4) throw new EnvelopeError('HRV_ERR_ENVELOPE_TRUNCATED', 'sealed file ends inside its epoch block, nonce or ciphertext length');
  const block = parseBlock(b, blockStart, nonceAt);
  if (block.gateway !== header.gateway) throw new EnvelopeError('HRV_ERR_ENVELOPE_EPOCH', `file of gateway '${header.gateway}' carries an epoch of gateway '${block.gateway}'`);
  const wantType = header.kind === 'rr-batch' ? 'opening' : 'reference';
  if (block.type !== wantType) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `epoch block malformed: a ${header.kind} file needs ${wantType === 'opening' ? 'an opening' : 'a reference'} block, not ${block.type === 'opening' ? 'an opening' : 'a reference'} block`);
  if (block.opening && block.opening.keyId !== header.key_id) throw new EnvelopeError('HRV_ERR_ENVELOPE_EPOCH', `epoch secret is sealed to enclave key ${block.opening.keyId}, the header names ${header.key_id}`);
  const { start: ctStart, length: ctLen } = ciphertextSpan(b, nonceAt + NONCE, 0);
  return {
    header,
    block,
    aad: bytes.subarray(0, ctStart),
    nonce: bytes.subarray(nonceAt, nonceAt + NONCE),
    ciphertext: bytes.subarray(ctStart, ctStart + ctLen),
  };
}

/** Reads an epoch envelope's header without opening it (unauthenticated: for routing only). */
export function readEpochEnvelopeHeader(bytes: Uint8Array): EnvelopeHeader {
  return parseEpochEnvelope(bytes).header;
}

/**
 * Authenticates an opening block and recovers its epoch's keys: the sender's signature first (a forged block costs
 * one verification, not a key agreement), then the HPKE open with the enclave's private key. `senderKey` is the
 * Ed25519 key enrolled for the block's gateway (undefined: not enrolled). Throws EnvelopeError (SIGNATURE, INTEGRITY).
 */
export function unlockEpochBlock(block: EpochBlock, hpkePrivateKey: Uint8Array, senderKey: Uint8Array | undefined): EpochKeys {
  const o = block.opening;
  if (block.type !== 'opening' || o === undefined) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', 'epoch block malformed: only an opening block carries a secret');
  if (senderKey === undefined) throw new EnvelopeError('HRV_ERR_ENVELOPE_SIGNATURE', `sender '${block.gateway}' is not enrolled`);
  if (!verifyBytes(senderKey, Buffer.concat([SIG_CONTEXT, o.signedPart]), o.signature)) {
    throw new EnvelopeError('HRV_ERR_ENVELOPE_SIGNATURE', `epoch block signature of '${block.gateway}' does not verify`);
  }
  let secret: Uint8Array;
  try {
    secret = hpkeOpen(hpkePrivateKey, o.enc, SECRET_INFO, o.hpkeAad, o.sealedSecret);
  } catch (err) {
    throw new EnvelopeError('HRV_ERR_ENVELOPE_INTEGRITY', 'epoch secret did not open: sealed to another enclave key', { cause: err });
  }
  try {
    return deriveEpochKeys(block.id, block.gateway, secret, Uint8Array.from(block.bytes));
  } finally {
    secret.fill(0);
  }
}

// Nonces come from a pool of random bytes drawn 4 KiB at a time (one RAND_bytes call per 341 files); each slice is used once.
const NONCE_POOL = 4096 - (4096 % NONCE);
let pool = Buffer.alloc(0);
let poolAt = 0;
function nextNonce(): Buffer {
  if (poolAt + NONCE > pool.length) {
    pool = randomBytes(NONCE_POOL);
    poolAt = 0;
  }
  poolAt += NONCE;
  return pool.subarray(poolAt - NONCE, poolAt);
}

function keyFor(keys: EpochKeys, kind: EnvelopeKind): KeyObject {
  return kind === 'rr-batch' ? keys.batchKey : keys.resultKey;
}

export interface SealEpochOptions {
  /** Body size (bytes, before encryption) for a given unpadded body size; default `defaultPadBucket`. */
  padTo?: (bodyBytes: number) => number;
}

/**
 * Seals `plaintext` under epoch `keys` with `header` bound as associated data: a batch file carries the epoch's
 * opening block and its batch key, a result the reference block and the result key. One AES-256-GCM seal, no
 * public-key operation. Throws EnvelopeError(MALFORMED) for a bad header, or a batch file without an opening block.
 */
export function sealEpochEnvelope(keys: EpochKeys, header: EnvelopeHeader, plaintext: Uint8Array, opts: SealEpochOptions = {}): Uint8Array {
  const { header: h, bytes: headerBytes } = encodeHeader(header);
  if (h.gateway !== keys.gateway) throw new EnvelopeError('HRV_ERR_ENVELOPE_EPOCH', `header names gateway '${h.gateway}', the epoch is of '${keys.gateway}'`);
  const block = h.kind === 'rr-batch' ? keys.openingBlock : keys.referenceBlock;
  if (block === undefined) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', 'a batch file needs the epoch\'s opening block, and these keys have none');
  const body = padBody(plaintext, opts.padTo);
  const nonceAt = PREFIX + headerBytes.length + 2 + block.length;
  const ctStart = nonceAt + NONCE + 4;
  const total = ctStart + body.length + TAG;
  if (total > MAX_ENVELOPE_BYTES) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `sealed file would be ${total} bytes (limit ${MAX_ENVELOPE_BYTES})`);
  const out = Buffer.allocUnsafe(total);
  MAGIC.copy(out, 0);
  out[4] = EPOCH_ENVELOPE_VERSION;
  out[5] = 0;
  out.writeUInt16BE(headerBytes.length, 6);
  headerBytes.copy(out, PREFIX);
  out.writeUInt16BE(block.length, PREFIX + headerBytes.length);
  out.set(block, PREFIX + headerBytes.length + 2);
  nextNonce().copy(out, nonceAt);
  out.writeUInt32BE(body.length + TAG, nonceAt + NONCE);
  const c = createCipheriv('aes-256-gcm', keyFor(keys, h.kind), out.subarray(nonceAt, nonceAt + NONCE), { authTagLength: TAG });
  c.setAAD(out.subarray(0, ctStart));
  let n = ctStart + c.update(body).copy(out, ctStart);
  n += c.final().copy(out, n);
  c.getAuthTag().copy(out, n);
  return new Uint8Array(out.buffer, out.byteOffset, total);
}

export interface OpenEpochOptions {
  /** The kind the caller expects; another kind is refused. */
  expectedKind?: EnvelopeKind;
}

/**
 * Opens an epoch envelope. `keysFor` returns the keys of the file's epoch (the enclave: from its cache or by
 * unlocking the opening block; the gateway: from its stored secrets) or throws EnvelopeError(EPOCH) for an unknown
 * one. Every malformed, truncated, tampered or mis-addressed input throws EnvelopeError naming the problem.
 */
export function openEpochEnvelope(
  bytes: Uint8Array,
  keysFor: (parsed: ParsedEpochEnvelope) => EpochKeys,
  opts: OpenEpochOptions = {},
): { header: EnvelopeHeader; plaintext: Uint8Array; epoch: EpochKeys; bodyBytes: number } {
  const p = parseEpochEnvelope(bytes);
  if (opts.expectedKind !== undefined && p.header.kind !== opts.expectedKind) {
    throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `expected a ${opts.expectedKind} file, got ${p.header.kind}`);
  }
  const keys = keysFor(p);
  if (keys.gateway !== p.block.gateway || keys.idHex !== p.block.idHex) {
    throw new EnvelopeError('HRV_ERR_ENVELOPE_EPOCH', `keys of epoch ${keys.gateway}/${keys.idHex} given for a file of epoch ${p.block.gateway}/${p.block.idHex}`);
  }
  const d = createDecipheriv('aes-256-gcm', keyFor(keys, p.header.kind), p.nonce, { authTagLength: TAG });
  d.setAAD(p.aad);
  d.setAuthTag(p.ciphertext.subarray(p.ciphertext.length - TAG));
  const body = Buffer.allocUnsafe(p.ciphertext.length - TAG);
  d.update(p.ciphertext.subarray(0, p.ciphertext.length - TAG)).copy(body, 0);
  try {
    d.final();
  } catch (err) {
    body.fill(0); // the unauthenticated plaintext must not outlive the failed check
    throw new EnvelopeError('HRV_ERR_ENVELOPE_INTEGRITY', `sealed file did not open under epoch ${p.block.idHex}: tampered, or not sealed under this epoch`, { cause: err });
  }
  // bodyBytes: the padded body's size, which the host can tell from the file's size as well.
  return { header: p.header, plaintext: unpadBody(body), epoch: keys, bodyBytes: body.length };
}
