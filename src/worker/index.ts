/**
 * The enclave worker of JetStream mode (issue 11): many of them, on any hosts, share the partitions of the work
 * stream under fenced leases, keep each partition's state as sealed checkpoints in JetStream, and publish results
 * for the hosts.
 */
export {
  startWorker,
  workerOptionsSchema,
  type WorkerEnclave,
  type WorkerHandle,
  type WorkerOptionsInput,
} from './worker.js';
export {
  PartitionRunner,
  type PartitionEnclave,
  type PartitionFile,
  type PartitionOutcome,
  type ResultSink,
  type RunnerEnd,
  type RunnerStats,
  type WorkSource,
} from './partition-runner.js';
export {
  CheckpointStore,
  chainSchema,
  extendChain,
  parseChain,
  ensureStateStream,
  stateStreamName,
  CHUNK_BYTES,
  type Chain,
  type CheckpointPiece,
  type PartitionChain,
} from './checkpoints.js';
export { fairShare, plan } from './assignment.js';
