/** The partition count of a JetStream deployment (partitionOf itself is in src/crypto: it hashes with node:crypto). */
import { z } from 'zod';

/** The most partitions a deployment may have: more leases and consumers than that only cost. */
export const MAX_PARTITIONS = 1024;

/** A partition count: an integer from 1 to MAX_PARTITIONS. */
export const partitionsSchema = z.number().int().min(1).max(MAX_PARTITIONS);
