/**
 * Envelope encryption of everything the CSP stores at the SP: a fresh 256-bit data key per record encrypts
 * the record (AES-256-GCM), and a versioned key-encryption key (KEK) wraps the data key, so rotating the
 * KEK re-wraps headers only. Blind indexes (HMAC) let the SP find a patient's records without learning
 * the patient id or the record type.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { HrvaultError } from '../errors.js';

/** A stored record or user entry failed to decrypt or its hash chain does not match. */
export class RecordIntegrityError extends HrvaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HRV_ERR_RECORD_INTEGRITY', message, options);
    this.name = 'RecordIntegrityError';
  }
}

/** The CSP's key-encryption keys by version; `current` wraps new records. */
export interface KekRing {
  current: number;
  keys: Map<number, Buffer>;
}

const MAGIC = Buffer.from('HVR1');
const HEADER_BYTES = 4 + 4 + 12 + 48 + 12; // magic, kek version, wrap nonce, wrapped key+tag, body nonce
const TAG = 16;

function gcm(key: Buffer, nonce: Buffer, aad: Buffer, data: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  c.setAAD(aad);
  return Buffer.concat([c.update(data), c.final(), c.getAuthTag()]);
}

function gcmOpen(key: Buffer, nonce: Buffer, aad: Buffer, data: Buffer, what: string): Buffer {
  if (data.length < TAG) throw new RecordIntegrityError(`${what} is truncated`);
  const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  d.setAAD(aad);
  d.setAuthTag(data.subarray(data.length - TAG));
  try {
    return Buffer.concat([d.update(data.subarray(0, data.length - TAG)), d.final()]);
  } catch (err) {
    throw new RecordIntegrityError(`${what} failed its integrity check`, { cause: err });
  }
}

// The body is bound to its own nonce and context, not to the wrapping, so a re-wrap leaves it valid.
function bodyAad(nonce: Buffer, context: string): Buffer {
  return Buffer.concat([MAGIC, nonce, Buffer.from(context, 'utf8')]);
}

/** Encrypts `plaintext` bound to `context` (e.g. patient ref, sequence number and type) under a fresh data key. */
export function sealRecord(ring: KekRing, context: string, plaintext: Buffer): Buffer {
  const kek = ring.keys.get(ring.current);
  if (!kek) throw new RecordIntegrityError(`no KEK version ${ring.current}`);
  const version = Buffer.alloc(4);
  version.writeUInt32BE(ring.current);
  const dek = randomBytes(32);
  const wrapNonce = randomBytes(12);
  const wrapped = gcm(kek, wrapNonce, Buffer.concat([MAGIC, version]), dek);
  const nonce = randomBytes(12);
  const header = Buffer.concat([MAGIC, version, wrapNonce, wrapped, nonce]);
  const body = gcm(dek, nonce, bodyAad(nonce, context), plaintext);
  dek.fill(0);
  return Buffer.concat([header, body]);
}

/** Decrypts a record sealed by sealRecord under the same context; throws RecordIntegrityError otherwise. */
export function openRecord(ring: KekRing, context: string, sealed: Buffer): Buffer {
  if (sealed.length < HEADER_BYTES + TAG || !sealed.subarray(0, 4).equals(MAGIC)) {
    throw new RecordIntegrityError('stored record is malformed or truncated');
  }
  const version = sealed.readUInt32BE(4);
  const kek = ring.keys.get(version);
  if (!kek) throw new RecordIntegrityError(`stored record names unknown KEK version ${version}`);
  const header = sealed.subarray(0, HEADER_BYTES);
  const dek = gcmOpen(kek, header.subarray(8, 20), header.subarray(0, 8), header.subarray(20, 68), 'record key');
  try {
    const nonce = header.subarray(68, 80);
    return gcmOpen(dek, nonce, bodyAad(nonce, context), sealed.subarray(HEADER_BYTES), 'record');
  } finally {
    dek.fill(0);
  }
}

/** Re-wraps a record's data key under the ring's current KEK; the encrypted body is untouched. */
export function rewrapRecord(ring: KekRing, sealed: Buffer): Buffer {
  const oldVersion = sealed.readUInt32BE(4);
  const oldKek = ring.keys.get(oldVersion);
  const newKek = ring.keys.get(ring.current);
  if (!oldKek || !newKek) throw new RecordIntegrityError('KEK version missing for re-wrap');
  const header = sealed.subarray(0, HEADER_BYTES);
  const dek = gcmOpen(oldKek, header.subarray(8, 20), header.subarray(0, 8), header.subarray(20, 68), 'record key');
  const version = Buffer.alloc(4);
  version.writeUInt32BE(ring.current);
  const wrapNonce = randomBytes(12);
  const wrapped = gcm(newKek, wrapNonce, Buffer.concat([MAGIC, version]), dek);
  dek.fill(0);
  return Buffer.concat([MAGIC, version, wrapNonce, wrapped, header.subarray(68, 80), sealed.subarray(HEADER_BYTES)]);
}

/** HMAC-SHA256 blind index of `value` under `label` (hex, 32 chars): equal inputs give equal tags. */
export function blindIndex(indexKey: Buffer, label: string, value: string): string {
  return createHmac('sha256', indexKey).update(label).update('\0').update(value).digest('hex').slice(0, 32);
}
