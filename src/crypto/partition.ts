/**
 * Which partition a patient belongs to, computed the same way on both sides of the JetStream split: the host
 * publishes a file to its partition's subject, and the enclave refuses a file whose patient is not in the partition
 * it is asked to process (so a host cannot move a patient into a partition whose state it wants to fork).
 */
import { createHash } from 'node:crypto';
import { MAX_PARTITIONS, partitionsSchema } from '../contracts/index.js';
import { ConfigError } from '../errors.js';

/**
 * The partition (0 ≤ p < partitions) of a patient pseudonym: the first 4 bytes of SHA-256 of its UTF-8
 * bytes, read big-endian, modulo `partitions`. Stable across hosts, processes and releases (a patient
 * must not move); the modulo bias is below partitions / 2³² (none for a power of two).
 */
export function partitionOf(pseudonym: string, partitions: number): number {
  if (!partitionsSchema.safeParse(partitions).success)
    throw new ConfigError(`partitions must be an integer from 1 to ${MAX_PARTITIONS}, not ${partitions}`);
  if (pseudonym.length === 0) throw new RangeError('an empty pseudonym has no partition');
  return createHash('sha256').update(pseudonym, 'utf8').digest().readUInt32BE(0) % partitions;
}
