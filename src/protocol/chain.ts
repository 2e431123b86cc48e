/**
 * The per-patient hash chain both ends of the CSP–SP protocol compute: the CSP links each sealed record to the
 * previous one before it appends, the SP refuses an append that does not extend its stored head.
 */
import { createHash } from 'node:crypto';

/** The next link of a per-patient hash chain: SHA-256(previous ‖ seq ‖ sealed record). */
export function chainLink(previous: Buffer, seq: number, sealed: Buffer): Buffer {
  const s = Buffer.alloc(8);
  s.writeBigUInt64BE(BigInt(seq));
  return createHash('sha256').update(previous).update(s).update(sealed).digest();
}

/** The chain value before the first record. */
export const CHAIN_GENESIS = Buffer.alloc(32);
