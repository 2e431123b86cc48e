/**
 * The sealed file that crosses the untrusted host: a small readable header (routing facts only — gateway
 * id, patient pseudonym, sequence number, time range, key id, kind), an HPKE-sealed body, and an optional
 * Ed25519 sender signature. The header, the version and the flags are the AEAD's associated data, so the
 * host can read them but not change one bit of them; the signature covers everything before it.
 *
 * Layout (big-endian):
 *   "HRVE" | version u8 = 1 | flags u8 (bit 0: signed) | header length u16 | header JSON
 *   | enc (32) | ciphertext length u32 | ciphertext ‖ tag | signature (64, if signed)
 * The body is a u32 plaintext length, the plaintext, and zero padding up to a size bucket, so the file size
 * says little about the number of beats inside.
 */
import { createHash } from 'node:crypto';
import { envelopeHeaderSchema as headerSchema, type EnvelopeHeader, type EnvelopeKind } from '../contracts/index.js';
import { checkPrefix, ciphertextSpan, envelopeVersionOf, decodeHeader, defaultPadBucket, encodeHeader, EnvelopeError, MAGIC, MAX_ENVELOPE_BYTES, MAX_HEADER, padBody, PREFIX, TAG, unpadBody } from './envelope-framing.js';
import { readEpochEnvelopeHeader, EPOCH_ENVELOPE_VERSION } from './epoch-envelope.js';
import { hpkeOpen, hpkeSeal } from './hpke.js';
import { signBytes, verifyBytes } from './signing.js';

export { defaultPadBucket, EnvelopeError, MAX_ENVELOPE_BYTES };
export type { EnvelopeHeader, EnvelopeKind };

const VERSION = 1;
const FLAG_SIGNED = 0x01;
const ENC = 32;
const SIG = 64;
const SIG_CONTEXT = Buffer.from('hrvault/v1/envelope-signature\0');

/** The key id written into headers: the first 16 hex digits of SHA-256 of the public key. */
export function keyIdOf(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 16);
}

function infoFor(kind: EnvelopeKind): Uint8Array {
  return kind === 'rr-batch' ? INFO_BATCH : INFO_RESULT;
}
const INFO_BATCH = new TextEncoder().encode('hrvault/v1/envelope/rr-batch');
const INFO_RESULT = new TextEncoder().encode('hrvault/v1/envelope/hrv-result');

export interface SealEnvelopeOptions {
  /** Body size (bytes, before encryption) for a given unpadded body size; default `defaultPadBucket`. */
  padTo?: (bodyBytes: number) => number;
}

/** Seals `plaintext` to `recipientPublicKey` (X25519) with `header` bound as AAD; signs it if a sender Ed25519 key is given. */
export function sealEnvelope(
  recipientPublicKey: Uint8Array,
  header: EnvelopeHeader,
  plaintext: Uint8Array,
  senderSigningKey?: Uint8Array,
  opts: SealEnvelopeOptions = {},
): Uint8Array {
  const { header: h, bytes: headerBytes } = encodeHeader(header);
  const body = padBody(plaintext, opts.padTo);
  const padded = body.length;
  const signed = senderSigningKey !== undefined;
  const aadLen = PREFIX + headerBytes.length;
  const total = aadLen + ENC + 4 + padded + TAG + (signed ? SIG : 0);
  if (total > MAX_ENVELOPE_BYTES) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `sealed file would be ${total} bytes (limit ${MAX_ENVELOPE_BYTES})`);
  const out = Buffer.allocUnsafe(total);
  MAGIC.copy(out, 0);
  out[4] = VERSION;
  out[5] = signed ? FLAG_SIGNED : 0;
  out.writeUInt16BE(headerBytes.length, 6);
  headerBytes.copy(out, PREFIX);
  const aad = out.subarray(0, aadLen);
  const { enc, ciphertext } = hpkeSeal(recipientPublicKey, infoFor(h.kind), aad, body);
  out.set(enc, aadLen);
  out.writeUInt32BE(ciphertext.length, aadLen + ENC);
  out.set(ciphertext, aadLen + ENC + 4);
  if (signed) {
    const end = total - SIG;
    out.set(signBytes(senderSigningKey, Buffer.concat([SIG_CONTEXT, out.subarray(0, end)])), end);
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

interface Parsed {
  header: EnvelopeHeader;
  signed: boolean;
  aad: Uint8Array;
  enc: Uint8Array;
  ciphertext: Uint8Array;
  signedPart: Uint8Array;
  signature: Uint8Array | undefined;
}

function parse(bytes: Uint8Array): Parsed {
  const { b, flags, headerEnd: aadLen } = checkPrefix(bytes, VERSION, FLAG_SIGNED);
  const signed = (flags & FLAG_SIGNED) !== 0;
  if (b.length < aadLen + ENC + 4) throw new EnvelopeError('HRV_ERR_ENVELOPE_TRUNCATED', 'sealed file ends inside its header or encapsulated key');
  const header = decodeHeader(b, aadLen);
  const { start: ctStart, length: ctLen } = ciphertextSpan(b, aadLen + ENC, signed ? SIG : 0);
  return {
    header,
    signed,
    aad: bytes.subarray(0, aadLen),
    enc: bytes.subarray(aadLen, aadLen + ENC),
    ciphertext: bytes.subarray(ctStart, ctStart + ctLen),
    signedPart: bytes.subarray(0, ctStart + ctLen),
    signature: signed ? bytes.subarray(ctStart + ctLen) : undefined,
  };
}

/** Reads a sealed file's header, of either version, without opening it (unauthenticated: for routing only). */
export function readEnvelopeHeader(bytes: Uint8Array): EnvelopeHeader {
  if (envelopeVersionOf(bytes) === EPOCH_ENVELOPE_VERSION) return readEpochEnvelopeHeader(bytes);
  return parse(bytes).header;
}

export interface OpenEnvelopeOptions {
  /** The kind the caller expects; another kind is refused. */
  expectedKind?: EnvelopeKind;
  /**
   * The Ed25519 public key that must have signed this file, looked up from its (not yet authenticated)
   * header; `undefined` means the sender is unknown and the file is refused. When omitted, no signature is
   * required (and one present is not checked).
   */
  senderKey?: (header: EnvelopeHeader) => Uint8Array | undefined;
}

/** Verifies and opens a sealed file; every malformed, truncated, tampered, unsigned or mis-addressed input throws EnvelopeError. */
export function openEnvelope(
  privateKey: Uint8Array,
  bytes: Uint8Array,
  opts: OpenEnvelopeOptions = {},
): { header: EnvelopeHeader; plaintext: Uint8Array; signed: boolean; bodyBytes: number } {
  const p = parse(bytes);
  if (opts.expectedKind !== undefined && p.header.kind !== opts.expectedKind) {
    throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `expected a ${opts.expectedKind} file, got ${p.header.kind}`);
  }
  if (opts.senderKey) {
    // Checked before decrypting so a forged file costs one verification, not a key agreement.
    if (!p.signed || !p.signature) throw new EnvelopeError('HRV_ERR_ENVELOPE_SIGNATURE', `file from '${p.header.gateway}' is not signed`);
    const key = opts.senderKey(p.header);
    if (!key) throw new EnvelopeError('HRV_ERR_ENVELOPE_SIGNATURE', `sender '${p.header.gateway}' is not enrolled`);
    if (!verifyBytes(key, Buffer.concat([SIG_CONTEXT, p.signedPart]), p.signature)) {
      throw new EnvelopeError('HRV_ERR_ENVELOPE_SIGNATURE', `signature of '${p.header.gateway}' does not verify`);
    }
  }
  let body: Uint8Array;
  try {
    body = hpkeOpen(privateKey, p.enc, infoFor(p.header.kind), p.aad, p.ciphertext);
  } catch (err) {
    throw new EnvelopeError('HRV_ERR_ENVELOPE_INTEGRITY', 'sealed file did not open: tampered, or sealed to another key', { cause: err });
  }
  // bodyBytes: the padded body's size, which the host can tell from the file's size as well.
  return { header: p.header, plaintext: unpadBody(body), signed: p.signed, bodyBytes: body.length };
}

const PLAIN_MAGIC = Buffer.from('HRVP1\n');

/** Plain mode's unprotected file (the evaluation baseline): "HRVP1\n", the header as one JSON line, then the body. */
export function encodePlainFile(header: EnvelopeHeader, body: Uint8Array): Uint8Array {
  const parsed = headerSchema.safeParse(header);
  if (!parsed.success) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `plain file header invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
  return Buffer.concat([PLAIN_MAGIC, Buffer.from(JSON.stringify(parsed.data)), Buffer.from('\n'), body]);
}

/** Parses a plain-mode file strictly; throws EnvelopeError(MALFORMED) naming the problem. */
export function decodePlainFile(bytes: Uint8Array): { header: EnvelopeHeader; body: Uint8Array } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (b.length > MAX_ENVELOPE_BYTES) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `plain file is ${b.length} bytes (limit ${MAX_ENVELOPE_BYTES})`);
  if (!b.subarray(0, PLAIN_MAGIC.length).equals(PLAIN_MAGIC)) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', 'not a plain hrvault file (bad magic)');
  const nl = b.indexOf(0x0a, PLAIN_MAGIC.length);
  if (nl < 0 || nl - PLAIN_MAGIC.length > MAX_HEADER) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', 'plain file header line is missing or too long');
  let json: unknown;
  try {
    json = JSON.parse(b.subarray(PLAIN_MAGIC.length, nl).toString('utf8'));
  } catch (err) {
    throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', 'plain file header is not JSON', { cause: err });
  }
  const h = headerSchema.safeParse(json);
  if (!h.success) throw new EnvelopeError('HRV_ERR_ENVELOPE_MALFORMED', `plain file header invalid: ${h.error.issues[0]?.message ?? 'unknown'}`);
  return { header: h.data, body: bytes.subarray(nl + 1) };
}
