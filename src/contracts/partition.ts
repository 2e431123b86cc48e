/**
 * Which partition a patient belongs to, declared once for both sides of the JetStream split: the host publishes a
 * file to its partition's subject, and the enclave refuses a file whose patient is not in the partition it is asked
 * to process (so a host cannot move a patient into a partition whose state it wants to fork). Pure, so the enclave
 * uses it without the NATS client; and, since contracts are bundled into the dashboard too, SHA-256 is computed here
 * rather than taken from node:crypto (the values are the same: partition.test.ts checks them against it).
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';

/** The most partitions a deployment may have: more leases and consumers than that only cost. */
export const MAX_PARTITIONS = 1024;

/** A partition count: an integer from 1 to MAX_PARTITIONS. */
export const partitionsSchema = z.number().int().min(1).max(MAX_PARTITIONS);

/**
 * The partition (0 ≤ p < partitions) of a patient pseudonym: the first 4 bytes of SHA-256 of its UTF-8
 * bytes, read big-endian, modulo `partitions`. Stable across hosts, processes and releases (a patient
 * must not move); the modulo bias is below partitions / 2³² (none for a power of two).
 */
export function partitionOf(pseudonym: string, partitions: number): number {
  if (!partitionsSchema.safeParse(partitions).success)
    throw new ConfigError(`partitions must be an integer from 1 to ${MAX_PARTITIONS}, not ${partitions}`);
  if (pseudonym.length === 0) throw new RangeError('an empty pseudonym has no partition');
  return sha256FirstWord(new TextEncoder().encode(pseudonym)) % partitions;
}

/** SHA-256 round constants (FIPS 180-4 §4.2.2). */
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n));

/** The first 32-bit big-endian word of SHA-256(`data`) (FIPS 180-4), as an unsigned integer. */
function sha256FirstWord(data: Uint8Array): number {
  // Message ‖ 0x80 ‖ zeros ‖ 64-bit big-endian bit length, to a multiple of 64 bytes.
  const blocks = Math.ceil((data.length + 9) / 64);
  const msg = new Uint8Array(blocks * 64);
  msg.set(data);
  msg[data.length] = 0x80;
  const view = new DataView(msg.buffer);
  view.setUint32(msg.length - 8, Math.floor(data.length / 0x20000000));
  view.setUint32(msg.length - 4, (data.length * 8) >>> 0);
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = new Uint32Array(64);
  for (let b = 0; b < blocks; b++) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(b * 64 + i * 4);
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15]!;
      const y = w[i - 2]!;
      w[i] =
        w[i - 16]! +
        (rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3)) +
        w[i - 7]! +
        (rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10));
    }
    let [a, bb, c, d, e, f, g, hh] = [h[0]!, h[1]!, h[2]!, h[3]!, h[4]!, h[5]!, h[6]!, h[7]!];
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c))) >>> 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = bb;
      bb = a;
      a = (t1 + t2) >>> 0;
    }
    // Uint32Array stores each sum modulo 2³².
    [a, bb, c, d, e, f, g, hh].forEach((v, i) => (h[i] = h[i]! + v));
  }
  return h[0]!;
}
