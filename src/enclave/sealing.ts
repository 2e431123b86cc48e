/**
 * Sealed storage for the enclave: AES-256-GCM under a key derived (HKDF-SHA256, per purpose) from the
 * platform sealing secret. In the software backend that secret is a 32-byte file in the enclave's data
 * directory, readable by whoever owns the host — which is why software mode protects nothing against the
 * host's operator. Under SGX the sealing secret would come from EGETKEY (MRENCLAVE policy), which Gramine
 * exposes as /dev/attestation/keys/_sgx_mrenclave.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileDurable } from '../durable-file.js';
import { HrvaultError } from '../errors.js';

/** Sealed state could not be read or written (missing key, tampered blob, I/O failure). */
export class SealingError extends HrvaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HRV_ERR_SEALING', message, options);
    this.name = 'SealingError';
  }
}

const MAGIC = Buffer.from('HRVS1');

export { writeFileDurable };

/** Loads the software sealing secret from `file`, creating it (mode 0600) on first start. */
export function loadSealingSecret(file: string): Uint8Array {
  if (!existsSync(file)) writeFileDurable(file, randomBytes(32));
  const secret = readFileSync(file);
  if (secret.length !== 32) throw new SealingError(`sealing secret ${file} must be 32 bytes, found ${secret.length}`);
  return new Uint8Array(secret);
}

function keyFor(secret: Uint8Array, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), Buffer.from(`hrvault/v1/seal/${purpose}`), 32));
}

/** Seals `data` for `purpose` (the purpose is bound as associated data). */
export function seal(secret: Uint8Array, purpose: string, data: Uint8Array): Uint8Array {
  return Buffer.concat([...sealPieces(secret, purpose, [data])]);
}

/**
 * Largest piece encrypted at once (bytes): the zero padding is fed from one shared block of this size, and a large
 * chunk in slices of it, so no ciphertext piece is bigger and a streamed record holds little memory at a time.
 */
const PIECE = 1024 * 1024;
let zeros: Buffer | undefined;
function zeroBlock(): Buffer {
  zeros ??= Buffer.alloc(PIECE);
  return zeros;
}

/**
 * Seals the plaintext `chunks` ‖ `zeroBytes` zero bytes exactly as `seal` would seal that concatenation (same
 * format: magic ‖ nonce ‖ ciphertext ‖ tag) but yields the blob in pieces of at most 1 MiB as it encrypts, for a
 * writer to stream: neither the plaintext nor the blob is ever one buffer. Its length is `sealedLength`.
 */
export function* sealPieces(secret: Uint8Array, purpose: string, chunks: readonly Uint8Array[], zeroBytes = 0): Generator<Buffer> {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', keyFor(secret, purpose), nonce, { authTagLength: 16 });
  c.setAAD(Buffer.from(purpose));
  yield MAGIC;
  yield nonce;
  for (const chunk of chunks) for (let off = 0; off < chunk.length; off += PIECE) yield c.update(chunk.subarray(off, off + PIECE));
  for (let left = zeroBytes; left > 0; left -= PIECE) yield c.update(zeroBlock().subarray(0, Math.min(left, PIECE)));
  yield c.final();
  yield c.getAuthTag();
}

/** Bytes of the blob that sealing `plainBytes` bytes of plaintext makes (GCM keeps the length; magic, nonce, tag). */
export function sealedLength(plainBytes: number): number {
  return MAGIC.length + 12 + plainBytes + 16;
}

/** Opens a sealed blob; throws SealingError (and releases nothing) if it was altered or sealed for another purpose. */
export function unseal(secret: Uint8Array, purpose: string, blob: Uint8Array): Uint8Array {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.length);
  if (b.length < MAGIC.length + 12 + 16 || !b.subarray(0, MAGIC.length).equals(MAGIC)) throw new SealingError(`sealed ${purpose} is malformed`);
  const nonce = b.subarray(MAGIC.length, MAGIC.length + 12);
  const d = createDecipheriv('aes-256-gcm', keyFor(secret, purpose), nonce, { authTagLength: 16 });
  d.setAAD(Buffer.from(purpose));
  d.setAuthTag(b.subarray(b.length - 16));
  const out = d.update(b.subarray(MAGIC.length + 12, b.length - 16));
  try {
    d.final();
  } catch (err) {
    out.fill(0);
    throw new SealingError(`sealed ${purpose} failed its integrity check`, { cause: err });
  }
  return out;
}
