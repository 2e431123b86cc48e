/**
 * The enclave: a separate OS process that alone holds the pipeline's private keys, opens rr-batch files,
 * enforces sequence numbers, computes HRV and alerts, and seals results to the gateway.
 */
export { spawnEnclave, ensurePlatformKey, EnclaveError, DEFAULT_ENCLAVE_CALL_TIMEOUT_MS, type ClusterEnclaveClient, type EnclaveClient, type SpawnEnclaveOptions } from './client.js';
export {
  ClusterCore,
  DELTAS_PER_SNAPSHOT,
  type CheckpointPiece,
  type ClusterKeys,
  type PartitionChain,
  type PartitionCommit,
  type PartitionOpened,
  type PartitionOutcome,
  type PartitionPiece,
} from './partition-core.js';
export {
  createClusterSecrets,
  decodeClusterSecrets,
  encodeClusterSecrets,
  loadClusterSecrets,
  saveClusterSecrets,
  sameClusterSecrets,
  CLUSTER_SECRETS_FILE,
  type ClusterSecrets,
} from './cluster-secrets.js';
export { EnclaveCore, type BatchFile, type BatchOutcome, type BatchResult, type BatchStats, type EnrolledGateway, type ResultAck } from './core.js';
export {
  HrvAnalyser,
  analyseAlone,
  SequenceError,
  ALERT_RULES,
  WINDOW_MS,
  MEASURE_CADENCE_MS,
  DEDUPE_WINDOW,
  inputDigest,
  parseBatchCsv,
  type Analysis,
  type AlertType,
  type BatchMeta,
  type HrvResult,
} from './analysis.js';
export { computeMeasurement } from './measurement.js';
export { loadEnrolment, parseEnrolment } from './enrolment.js';
export { SealingError } from './sealing.js';
export { KeyRing, sealedKeyIds, NO_ROTATION, keyRingPortableSchema, type KeyPolicy, type KeyPair, type KeyRingPortable } from './keyring.js';
export { EpochCache, DEFAULT_EPOCH_CACHE } from './epoch-cache.js';
