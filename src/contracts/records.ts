/**
 * The data of every clinical record type, as the CSP stores it (sealed at the SP) and as the API and the
 * dashboard read it. The CSP validates data against these schemas before it appends a record, and
 * readers validate what comes back, so a record of the wrong shape is refused, never shown blank.
 */
import { z } from 'zod';
import { ALERT_TYPES, alertOnsetSchema, cleaningSummarySchema, measuredWindowSchema, rrBeatsSchema, type HrvResult } from './hrv-result.js';
import { wireIdSchema } from './ids.js';
import { hrvMeasuresSchema } from './measures.js';
import { parseContract } from './errors.js';
import type { RecordType } from './vocabulary.js';

const time = z.number().finite();
const count = z.number().int().min(0).max(10_000_000);

/** Where an HRV window or an RR stretch came from: a pipeline result (gateway, its batch sequence number) or an uploaded file. */
export const recordSourceSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('pipeline'), gateway: wireIdSchema, seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }),
  z.strictObject({ kind: z.literal('upload'), file_record: z.string().min(1).max(64), file_name: z.string().max(255), window: count }),
]);
export type RecordSource = z.infer<typeof recordSourceSchema>;

/** `hrv`: the measures of one analysis window. Times in ms since the epoch. */
export const hrvRecordDataSchema = z.strictObject({
  v: z.literal(1),
  source: recordSourceSchema,
  /** The analysed window [t_start_ms, t_end_ms]. */
  t_start_ms: time,
  t_end_ms: time,
  length_ms: z.number().int().positive(),
  partial: z.boolean(),
  /** Intervals in the window before cleaning. */
  n: count,
  measures: hrvMeasuresSchema.nullable(),
  cleaning: cleaningSummarySchema.nullable(),
  /** The window the measures and cleaning describe, when it is not [t_start_ms, t_end_ms] itself (HrvResult window.measured). */
  measured: measuredWindowSchema.optional(),
  af_suspected: z.boolean().nullable(),
  active_alerts: z.array(z.enum(ALERT_TYPES)),
  alerts: z.array(alertOnsetSchema),
  /** Batches missing before this one (pipeline only). */
  gap: z.number().int().min(0),
  /** A batch late beyond the reorder hold, analysed on its own: the "window" is its own beats (HrvResult `late`). */
  late: z.literal(true).optional(),
});
export type HrvRecordData = z.infer<typeof hrvRecordDataSchema>;

/** `rr_batch`: the beats behind a pipeline result (or an uploaded file), for the tachogram and re-analysis. */
export const rrBatchDataSchema = z.strictObject({
  v: z.literal(1),
  source: recordSourceSchema,
  beats: rrBeatsSchema,
});
export type RrBatchData = z.infer<typeof rrBatchDataSchema>;

const optionalIn = (lo: number, hi: number, what: string) =>
  z.number().finite().min(lo, `${what} must be at least ${lo}`).max(hi, `${what} must be at most ${hi}`).optional();

/** Ranges a health worker's entry must fall in; outside them it is a typing error, not a patient. */
export const VITALS_LIMITS = {
  hr_bpm: [20, 300, 'heart rate (bpm)'],
  systolic_mmhg: [40, 300, 'systolic pressure (mmHg)'],
  diastolic_mmhg: [20, 200, 'diastolic pressure (mmHg)'],
  spo2_pct: [50, 100, 'SpO₂ (%)'],
  temperature_c: [30, 45, 'temperature (°C)'],
} as const;

export const vitalsDataSchema = z
  .strictObject({
    hr_bpm: optionalIn(...VITALS_LIMITS.hr_bpm),
    systolic_mmhg: optionalIn(...VITALS_LIMITS.systolic_mmhg),
    diastolic_mmhg: optionalIn(...VITALS_LIMITS.diastolic_mmhg),
    spo2_pct: optionalIn(...VITALS_LIMITS.spo2_pct),
    temperature_c: optionalIn(...VITALS_LIMITS.temperature_c),
  })
  .refine((v) => Object.values(v).some((x) => x !== undefined), { message: 'at least one vital sign is needed' })
  .refine((v) => v.systolic_mmhg === undefined || v.diastolic_mmhg === undefined || v.diastolic_mmhg < v.systolic_mmhg, {
    message: 'diastolic pressure must be below systolic',
    path: ['diastolic_mmhg'],
  });
export type VitalsData = z.infer<typeof vitalsDataSchema>;

export const noteDataSchema = z.strictObject({ text: z.string().trim().min(1, 'a note needs text').max(4000) });
export type NoteData = z.infer<typeof noteDataSchema>;

export const prescriptionDataSchema = z.strictObject({
  text: z.string().trim().min(1).max(4000),
  medication: z.string().max(200).optional(),
  dose: z.string().max(200).optional(),
  valid_until: z.string().max(40).optional(),
});
export type PrescriptionData = z.infer<typeof prescriptionDataSchema>;

/** Largest uploaded file text, characters (a day of RR intervals is about 0.6 MB). */
export const MAX_UPLOAD_TEXT = 1_900_000;

/** An uploaded RR-interval file (CSV, Polar, Kubios text) as stored, after it parsed. */
export const rrFileDataSchema = z.strictObject({
  filename: z.string().min(1).max(255),
  text: z.string().min(1).max(MAX_UPLOAD_TEXT),
  /** What the parser found (set by the CSP after parsing; absent in an upload request). */
  n_intervals: count.optional(),
  windows: count.optional(),
});
export type RrFileData = z.infer<typeof rrFileDataSchema>;

/** An uploaded ECG record (`t_s,mV` or one sample per line with a rate) as stored, after detection ran. */
export const ecgFileDataSchema = z.strictObject({
  filename: z.string().min(1).max(255),
  text: z.string().min(1).max(MAX_UPLOAD_TEXT),
  /** Sampling rate, Hz, when the file has no time column or `# sampling_rate_hz` line. */
  fs_hz: z.number().finite().positive().max(10_000).optional(),
  n_beats: count.optional(),
  windows: count.optional(),
});
export type EcgFileData = z.infer<typeof ecgFileDataSchema>;

/** A clinician's acknowledgement of one alert of an HRV record. */
export const alertAckDataSchema = z.strictObject({
  hrv_record: z.string().min(1).max(64),
  alert_type: z.enum(ALERT_TYPES),
  onset_ms: time,
  comment: z.string().max(1000).optional(),
});
export type AlertAckData = z.infer<typeof alertAckDataSchema>;

/** Each record type's data schema. */
export const RECORD_DATA_SCHEMAS = {
  hrv: hrvRecordDataSchema,
  rr_batch: rrBatchDataSchema,
  vitals: vitalsDataSchema,
  note: noteDataSchema,
  rr_file: rrFileDataSchema,
  ecg_file: ecgFileDataSchema,
  prescription: prescriptionDataSchema,
  alert_ack: alertAckDataSchema,
} as const satisfies Record<RecordType, z.ZodType>;

/** The data type of each record type. */
export type RecordDataOf = { [T in RecordType]: z.infer<(typeof RECORD_DATA_SCHEMAS)[T]> };

/** Validates a record's data against its type's schema; throws ContractError naming the field. */
export function parseRecordData<T extends RecordType>(type: T, data: unknown): RecordDataOf[T] {
  return parseContract(`${type} record`, RECORD_DATA_SCHEMAS[type], data) as RecordDataOf[T];
}

/** The two records a verified pipeline result becomes: the window's measures and the batch's beats (both times in ms). */
export function recordsFromResult(
  gateway: string,
  result: HrvResult,
): [{ type: 'hrv'; t_ms: number; data: HrvRecordData }, { type: 'rr_batch'; t_ms: number; data: RrBatchData }] {
  const source = { kind: 'pipeline' as const, gateway, seq: result.seq };
  const w = result.window;
  return [
    {
      type: 'hrv',
      t_ms: result.t_end_ms,
      data: {
        v: 1,
        source,
        t_start_ms: w.start_ms,
        t_end_ms: w.end_ms,
        length_ms: w.length_ms,
        partial: w.partial,
        n: w.n,
        measures: w.measures,
        cleaning: w.cleaning,
        ...(w.measured ? { measured: w.measured } : {}),
        af_suspected: w.af_suspected,
        active_alerts: result.active_alerts,
        alerts: result.alerts,
        gap: result.gap,
        ...(result.late ? { late: true as const } : {}),
      },
    },
    { type: 'rr_batch', t_ms: result.t_end_ms, data: { v: 1, source, beats: result.rr } },
  ];
}
