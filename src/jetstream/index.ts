/**
 * NATS JetStream building blocks for scaling the pipeline out over many hosts (issue 11). So far: partition
 * ownership with fencing (`lease.ts`) and the partitioned work queue (`work.ts`).
 */
export {
  LEASE_BUCKET,
  MARKER_KEY,
  LeaseLostError,
  PartitionLeases,
  isWrongLastSequence,
  leaseKey,
  leaseValueSchema,
  openLeaseBucket,
  type Lease,
  type LeaseBucket,
  type LeaseBucketOptions,
  type LeaseValue,
  type PartitionLeasesOptions,
} from './lease.js';
export {
  MAX_PARTITIONS,
  ensureWorkStream,
  parseWorkOptions,
  partitionOf,
  publishWork,
  workConsumer,
  workConsumerName,
  workOptionsSchema,
  workSubject,
  type WorkFile,
  type WorkOptions,
  type WorkOptionsInput,
  type WorkPublished,
} from './work.js';
