/**
 * NATS JetStream building blocks for scaling the pipeline out over many hosts (issue 11). So far: partition
 * ownership with fencing (`lease.ts`) and the partitioned work queue (`work.ts`).
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
export {
  H_FILE,
  H_GATEWAY,
  H_PATIENT,
  H_RESULT,
  H_SEQ,
  H_TOKEN,
  parseContract,
  readResultHeaders,
  readWorkHeaders,
  refusalSchema,
  resultHeadersSchema,
  subjects,
  workHeadersSchema,
  type HeaderReader,
  type Refusal,
  type ResultHeaders,
  type WorkHeaders,
} from './messages.js';
export { connectNats, type NatsConnectOptions } from './connect.js';
