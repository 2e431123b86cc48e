/**
 * NATS JetStream building blocks for scaling the pipeline out over many hosts (issue 11). So far: partition
 * ownership with fencing (`lease.ts`).
 */
export {
  LEASE_BUCKET,
  SERIALIZABLE_CAS_SINCE,
  hasSerializableClusteredCas,
  LeaseLostError,
  PartitionLeases,
  isWrongLastSequence,
  leaseKey,
  leaseValueSchema,
  openLeaseBucket,
  type Lease,
  type LeaseBucketOptions,
  type LeaseValue,
  type PartitionLeasesOptions,
} from './lease.js';
