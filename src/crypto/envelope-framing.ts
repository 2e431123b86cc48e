/**
 * Framing shared by both sealed-file versions (envelope.ts v1, epoch-envelope.ts v2): the error class, the magic
 * and limits, the readable header's encoding and strict decoding, and the padded body (u32 length, plaintext, zero
 * padding up to a size bucket, so a file's size says little about the beats inside).
 */
import { envelopeHeaderSchema as headerSchema, type EnvelopeHeader } from '../contracts/index.js';
import { HrvaultError, type ErrorCode } from '../errors.js';

/** A sealed file failed a check; `code` says which (malformed, truncated, integrity, signature, epoch, content). */
export class EnvelopeError extends HrvaultError {
  constructor(
    code: Extract<ErrorCode, `HRV_ERR_ENVELOPE_${string}`>,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'EnvelopeError';
  }
}

export const MAGIC = Buffer.from('HRVE');
/** magic (4) | version u8 | flags u8 | header length u16 */
export const PREFIX = 8;
export const TAG = 16;
export const MAX_HEADER = 1024;
/** Largest envelope accepted (bytes); anything larger is refused before parsing. */
export const MAX_ENVELOPE_BYTES = 16 * 1024 * 1024;

/** The version byte of a sealed file (1: HPKE per file, 2: epoch envelope), or undefined if it is not one. */
export function envelopeVersionOf(bytes: Uint8Array): number | undefined {
  if (!(bytes instanceof Uint8Array) || bytes.length < PREFIX) return undefined;
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) return undefined;
  return bytes[4];
}

/** Default padding policy: the next power of two, at least 1 KiB (bytes of the body before encryption). */
export function defaultPadBucket(bodyBytes: number): number {
  let b = 1024;
  while (b < bodyBytes) b *= 2;
  return b;
}

/** Validates a header for sealing and returns its JSON bytes; throws EnvelopeError(MALFORMED) naming the field. */
export function encodeHeader(header: EnvelopeHeader): { header: EnvelopeHeader; bytes: Buffer } {
  const parsed = headerSchema.safeParse(header);
  if (!parsed.success) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `envelope header invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
  const bytes = Buffer.from(JSON.stringify(parsed.data));
  if (bytes.length > MAX_HEADER) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `envelope header is ${bytes.length} bytes (limit ${MAX_HEADER})`);
  return { header: parsed.data, bytes };
}

/**
 * Checks the common prefix of a sealed file of `version` and returns it as a Buffer with its header length;
 * throws EnvelopeError for non-bytes, oversize, truncation, bad magic, another version or flags outside `flagMask`.
 */
export function checkPrefix(bytes: Uint8Array, version: number, flagMask: number): { b: Buffer; flags: number; headerEnd: number } {
  if (!(bytes instanceof Uint8Array)) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', 'sealed file must be bytes');
  if (bytes.length > MAX_ENVELOPE_BYTES) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `sealed file is ${bytes.length} bytes (limit ${MAX_ENVELOPE_BYTES})`);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (b.length < PREFIX) throw new EnvelopeError('HRV_ERR_ENVELOPE_TRUNCATED', `sealed file is ${b.length} bytes, shorter than its ${PREFIX}-byte prefix`);
  if (!b.subarray(0, 4).equals(MAGIC)) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', 'not a sealed hrvault file (bad magic)');
  if (b[4] !== version) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `unsupported envelope version ${b[4]}`);
  const flags = b[5]!;
  if ((flags & ~flagMask) !== 0) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `unknown envelope flags 0x${flags.toString(16)}`);
  const hLen = b.readUInt16BE(6);
  if (hLen === 0 || hLen > MAX_HEADER) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `envelope header length ${hLen} is outside 1–${MAX_HEADER}`);
  return { b, flags, headerEnd: PREFIX + hLen };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
/** Zeros to compare padding against, grown on demand (a byte loop in JS costs µs per KiB). */
let zeros = Buffer.alloc(4096);

/** Decodes and validates the readable header in `b[PREFIX, end)`; throws EnvelopeError(MALFORMED) naming the field. */
export function decodeHeader(b: Buffer, end: number): EnvelopeHeader {
  let json: unknown;
  try {
    json = JSON.parse(UTF8.decode(b.subarray(PREFIX, end)));
  } catch (err) {
    throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', 'envelope header is not valid UTF-8 JSON', { cause: err });
  }
  const h = headerSchema.safeParse(json);
  if (!h.success) {
    const issue = h.error.issues[0];
    throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `envelope header invalid: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unknown'}`);
  }
  return h.data;
}

/**
 * Reads the u32 ciphertext length at `at` and checks that the file ends exactly `trailer` bytes after the ciphertext
 * that follows it; returns the ciphertext's start and length. Throws EnvelopeError (MALFORMED, TRUNCATED).
 */
export function ciphertextSpan(b: Buffer, at: number, trailer: number): { start: number; length: number } {
  const length = b.readUInt32BE(at);
  if (length < TAG + 4) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `ciphertext length ${length} is too short`);
  const start = at + 4;
  const expected = start + length + trailer;
  if (b.length < expected) throw new EnvelopeError('HRV_ERR_ENVELOPE_TRUNCATED', `sealed file is ${b.length} bytes but its framing needs ${expected}`);
  if (b.length > expected) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `sealed file has ${b.length - expected} trailing bytes`);
  return { start, length };
}

/** The body before encryption: u32 plaintext length, plaintext, zeros up to `padTo(4 + length)` bytes. */
export function padBody(plaintext: Uint8Array, padTo: (bodyBytes: number) => number = defaultPadBucket): Buffer {
  const bodyLen = 4 + plaintext.length;
  const body = Buffer.alloc(Math.max(bodyLen, padTo(bodyLen)));
  body.writeUInt32BE(plaintext.length, 0);
  body.set(plaintext, 4);
  return body;
}

/** The plaintext inside an opened body; throws EnvelopeError(CONTENT) if its length or padding is wrong. */
export function unpadBody(body: Uint8Array): Uint8Array {
  if (body.length < 4) throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `body of ${body.length} bytes has no length field`);
  const len = Buffer.from(body.buffer, body.byteOffset, body.length).readUInt32BE(0);
  if (len > body.length - 4) throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `body length ${len} exceeds the ${body.length - 4} bytes present`);
  const padding = body.length - 4 - len;
  if (zeros.length < padding) zeros = Buffer.alloc(padding);
  if (Buffer.compare(body.subarray(4 + len), zeros.subarray(0, padding)) !== 0) throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', 'padding is not zero');
  return body.subarray(4, 4 + len);
}
