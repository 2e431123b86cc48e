/** The gateway: MQTT intake, durable spool, timer-cut sealed batches over SFTP, result intake; and the demo broker. */
export {
  startGateway,
  batchFileName,
  type GatewayOptions,
  type GatewayHandle,
  type GatewayStats,
  type GatewayResult,
} from './gateway.js';
export { encodeBatchFile, openResultFile, type BatchToSeal, type BatchSealerOptions } from './batch-file.js';
export { parseResultBody, sshFingerprint } from './gateway.js';
export { Spool, nodeSpoolIo, type PendingBatch, type SpooledBeat, type SpoolIo, type SpoolCounters, type QuarantineReason } from './spool.js';
export { startEmbeddedBroker, type EmbeddedBroker } from './broker.js';
export { ensureGatewayKeys, type GatewayKeys } from './keys.js';
export { softwareQuotePolicy, SoftwareQuotesInProductionError, SOFTWARE_QUOTES_OVERRIDE_KEY, type SoftwareQuotePolicy, type SoftwareQuotePolicyInput } from './software-quotes.js';
export { GatewayEpochs, DEFAULT_EPOCH_POLICY, type EpochPolicy, type EpochRecipient } from './epoch-keys.js';
