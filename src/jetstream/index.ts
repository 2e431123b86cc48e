/**
 * NATS JetStream building blocks for scaling the pipeline out over many hosts (issue 11). So far: partition
 * ownership with fencing (`lease.ts`), the partitioned work queue (`work.ts`) and the results stream the host
 * consumes (`results.ts`).
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
export {
  H_FILE,
  H_GATEWAY,
  H_PATIENT,
  H_RESULT,
  H_SEQ,
  H_TOKEN,
  attestReplySchema,
  parseJsonContract,
  readAttestReply,
  readRefusal,
  readResultHeaders,
  readWorkHeaders,
  refusalSchema,
  resultHeadersSchema,
  subjects,
  workHeadersSchema,
  type AttestReply,
  type HeaderReader,
  type Refusal,
  type ResultHeaders,
  type WorkHeaders,
} from './messages.js';
export { closeNats, connectNats, type NatsConnectOptions } from './connect.js';
export {
  ensureResultsStream,
  fetchResults,
  parseResultsOptions,
  publishRefusal,
  publishResult,
  readResultsMessage,
  resultsConsumer,
  resultsOptionsSchema,
  type ResultPublished,
  type ResultToPublish,
  type ResultsBatch,
  type ResultsMessage,
  type ResultsOptions,
  type ResultsOptionsInput,
} from './results.js';
export { deploymentStreams, removeDeployment } from './deployment.js';
export { createdConcurrently, ensureStream, subjectsUnder } from './streams.js';
export { collectPull } from './pull.js';
