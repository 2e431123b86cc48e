/**
 * The shapes that cross a component or trust boundary, each a zod schema and its inferred type, declared
 * once. Producers build these types; consumers validate at the boundary with `parseContract`. Pure: also
 * bundled into the dashboard.
 */
export { ContractError, parseContract } from './errors.js';
export { WIRE_ID, FILE_NAME, PERSON_ID, wireIdSchema, personIdSchema, epochMsSchema } from './ids.js';
export * from './vocabulary.js';
export { hrvMeasuresSchema, MEASURE_NAMES, type HrvMeasures } from './measures.js';
export { beatMessageSchema, deviceIdSchema, RR_MIN_MS, RR_MAX_MS, type BeatMessage } from './beat.js';
export { envelopeHeaderSchema, ENVELOPE_KINDS, type EnvelopeHeader, type EnvelopeKind } from './envelope-header.js';
export {
  enrolmentFileSchema,
  gatewayKeysFileSchema,
  gatewayPublicKeysSchema,
  type EnrolmentFile,
  type GatewayKeysFile,
  type GatewayPublicKeys,
} from './enrolment.js';
export {
  ALERT_TYPES,
  alertOnsetSchema,
  cleaningSummarySchema,
  rrBeatsSchema,
  resultWindowSchema,
  measuredWindowSchema,
  originalBlockSchema,
  hrvResultSchema,
  type AlertType,
  type AlertOnset,
  type CleaningSummary,
  type RrBeats,
  type ResultWindow,
  type MeasuredWindowRef,
  type HrvResult,
} from './hrv-result.js';
export {
  recordSourceSchema,
  hrvRecordDataSchema,
  rrBatchDataSchema,
  vitalsDataSchema,
  VITALS_LIMITS,
  noteDataSchema,
  prescriptionDataSchema,
  rrFileDataSchema,
  ecgFileDataSchema,
  alertAckDataSchema,
  MAX_UPLOAD_TEXT,
  RECORD_DATA_SCHEMAS,
  parseRecordData,
  recordsFromResult,
  type RecordSource,
  type HrvRecordData,
  type RrBatchData,
  type VitalsData,
  type NoteData,
  type PrescriptionData,
  type RrFileData,
  type EcgFileData,
  type AlertAckData,
  type RecordDataOf,
} from './records.js';
export {
  ingestItemSchema,
  ingestRequestSchema,
  ingestAnswerSchema,
  MAX_INGEST_ITEMS,
  type IngestItem,
  type IngestRequest,
  type IngestAnswer,
} from './ingest.js';
export { configSchema, type HrvaultConfig } from './config.js';
export type { AuditQuery } from './audit.js';
export {
  MAX_TREND_BUCKETS,
  TREND_MEASURES,
  trendBucketSchema,
  trendsAnswerSchema,
  type TrendBucket,
  type TrendMeasure,
  type TrendStat,
  type TrendsAnswer,
} from './trends.js';
export {
  RESULT_BUNDLE_MAGIC,
  RESULT_BUNDLE_NAME,
  BUNDLED_RESULT_NAME,
  MAX_BUNDLED_RESULT_BYTES,
  MAX_BUNDLED_RESULTS,
  encodeResultBundle,
  splitResultBundle,
  type BundledResult,
  type SplitBundle,
} from './result-bundle.js';
export { MAX_PARTITIONS, partitionsSchema } from './partition.js';
