/**
 * The enclave key pairs this gateway attested, newest last, kept durably in `<spool>/attested.json` (public keys
 * and the quotes that vouched for them, nothing secret). The enclave signs each result with the pair the batch
 * file was sealed to, so after the enclave rotated — or after this gateway restarted — a result can be signed by
 * an older pair than the one attested last; it is verified against the pairs listed here. Each entry is verified
 * again when read (platform signature, measurement, its own nonce), so the file cannot smuggle in a key.
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { keyIdOf, type VerifiedQuote } from '../crypto/index.js';
import { writeFileDurable } from '../durable-file.js';
import { HrvaultError } from '../errors.js';

/** How many attested pairs are kept: with hourly re-attestation, more than two days of rotations. */
const KEPT = 64;

const fileSchema = z.array(z.strictObject({ nonce: z.string().regex(/^[0-9a-f]+$/), at_ms: z.number(), quote: z.unknown() }));

interface Entry {
  nonce: string;
  atMs: number;
  quote: unknown;
  verified: VerifiedQuote;
}

export class AttestedKeys {
  readonly #entries: Entry[];

  private constructor(
    readonly file: string,
    entries: Entry[],
  ) {
    this.#entries = entries;
  }

  /** Reads the file (missing: none yet); entries that no longer verify (another platform key, a measurement dropped from the allow-list) are left out. */
  static open(file: string, verify: (quote: unknown, nonce: Uint8Array) => VerifiedQuote): AttestedKeys {
    if (!existsSync(file)) return new AttestedKeys(file, []);
    let raw: z.infer<typeof fileSchema>;
    try {
      raw = fileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    } catch (err) {
      throw new HrvaultError('HRV_ERR_SPOOL', `attested keys ${file} unreadable`, { cause: err });
    }
    const entries: Entry[] = [];
    for (const e of raw) {
      try {
        entries.push({ nonce: e.nonce, atMs: e.at_ms, quote: e.quote, verified: verify(e.quote, Buffer.from(e.nonce, 'hex')) });
      } catch {
        // no longer trusted: its key verifies nothing
      }
    }
    return new AttestedKeys(file, entries);
  }

  /** Records a quote this gateway just verified, durably (before anything is sealed to its key); `atMs` epoch ms. */
  add(quote: unknown, nonce: Uint8Array, verified: VerifiedQuote, atMs: number): void {
    const entries = [...this.#entries.filter((e) => keyIdOf(e.verified.enclavePublicKey) !== keyIdOf(verified.enclavePublicKey)), { nonce: Buffer.from(nonce).toString('hex'), atMs, quote, verified }].slice(-KEPT);
    try {
      writeFileDurable(this.file, JSON.stringify(entries.map((e) => ({ nonce: e.nonce, at_ms: e.atMs, quote: e.quote }))));
    } catch (err) {
      throw new HrvaultError('HRV_ERR_SPOOL', `attested keys ${this.file} could not be written`, { cause: err });
    }
    this.#entries.splice(0, this.#entries.length, ...entries);
  }

  /** The enclave signing keys attested, newest first. */
  signers(): Uint8Array[] {
    return this.#entries.map((e) => e.verified.enclaveSigningKey).reverse();
  }

  get size(): number {
    return this.#entries.length;
  }
}
