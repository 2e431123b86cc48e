/**
 * What the enclave (or the plain-mode host) produces for one accepted batch file: the plaintext of an
 * `hrv-result` envelope, sealed to the gateway. The gateway validates it after opening and forwards it to
 * the CSP, which validates it again (a different trust domain) before storing records built from it.
 */
import { z } from 'zod';
import { hrvMeasuresSchema } from './measures.js';
import { wireIdSchema } from './ids.js';
import { MAX_PARTITIONS } from './partition.js';

/** Alert kinds the enclave raises (thresholds in docs/pipeline-security.md §Alerts). */
export const ALERT_TYPES = ['tachycardia', 'bradycardia', 'irregular_rhythm'] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

const count = z.number().int().min(0).max(10_000_000);
const time = z.number().finite();

/** One alert onset: when the condition began (ms, the batch's time base) and the value that crossed the rule. */
export const alertOnsetSchema = z.strictObject({
  type: z.enum(ALERT_TYPES),
  onset_ms: time,
  /** bpm for rate alerts; the irregularity figure for irregular_rhythm. */
  value: z.number().finite(),
});
export type AlertOnset = z.infer<typeof alertOnsetSchema>;

/** What RR cleaning did to the window (src/hrv cleanRr's report). */
export const cleaningSummarySchema = z.strictObject({
  n_input: count,
  n_kept: count,
  n_excluded: count,
  n_corrected: count,
  n_out_of_range: count,
  n_ectopic: count,
  n_artefact: count,
});
export type CleaningSummary = z.infer<typeof cleaningSummarySchema>;

/** The RR intervals one batch carried: beat times (ms) and the interval ending at each (ms), same length. */
export const rrBeatsSchema = z
  .strictObject({
    t_ms: z.array(time).max(100_000),
    rr_ms: z.array(z.number().finite().positive().max(60_000)).max(100_000),
  })
  .refine((b) => b.t_ms.length === b.rr_ms.length, { message: 't_ms and rr_ms differ in length' });
export type RrBeats = z.infer<typeof rrBeatsSchema>;

/** A window the measures were computed on: its first interval's start and last beat (ms), and its intervals before cleaning. */
export const measuredWindowSchema = z
  .strictObject({ start_ms: time, end_ms: time, n: count })
  .refine((w) => w.end_ms >= w.start_ms, { message: 'measured window ends before it starts' });
export type MeasuredWindowRef = z.infer<typeof measuredWindowSchema>;

/** The sliding analysis window at the end of this batch. */
export const resultWindowSchema = z.strictObject({
  /** First and last beat time of the window (ms); span = end − (first beat − its interval). */
  start_ms: time,
  end_ms: time,
  span_ms: z.number().finite().min(0),
  /** Intervals in the window before cleaning. */
  n: count,
  /** The window is shorter than the nominal length (start of monitoring, or after a gap). */
  partial: z.boolean(),
  /** Nominal window length, ms. */
  length_ms: z.number().int().positive(),
  /** Measures of the cleaned NN intervals of the `measured` window; null when fewer than two intervals remain. */
  measures: hrvMeasuresSchema.nullable(),
  cleaning: cleaningSummarySchema.nullable(),
  /**
   * The window `measures` and `cleaning` were computed on: the stream's window at the patient's last full
   * computation, which runs once the stream has moved on by the enclave's cadence (src/enclave MEASURE_CADENCE_MS,
   * 60 s) and is carried forward in between; equal to this window's bounds when computed on this file. Absent in
   * results from before the cadence (then the measures are this window's).
   */
  measured: measuredWindowSchema.optional(),
  /** Irregular rhythm suspected after ectopic removal (then cleaning stops correcting); null when too short to say. */
  af_suspected: z.boolean().nullable(),
});
export type ResultWindow = z.infer<typeof resultWindowSchema>;

/** The original system's 10-s block measures, labelled non-clinical. */
export const originalBlockSchema = z.strictObject({
  start_s: z.number().finite(),
  end_s: z.number().finite(),
  n: count,
  sdnn_ms: z.number().finite().nullable(),
  lf_hf: z.number().finite().nullable(),
  clinical: z.literal(false),
});

export const hrvResultSchema = z.strictObject({
  v: z.literal(2),
  /** Patient pseudonym (the host never sees the real id). */
  patient: wireIdSchema,
  seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** Sequence numbers skipped before this one (0 when none). */
  gap: z.number().int().min(0),
  t_start_ms: time,
  t_end_ms: time,
  /** The batch's beats, as accepted. */
  rr: rrBeatsSchema,
  original: z.array(originalBlockSchema).max(100_000),
  window: resultWindowSchema,
  active_alerts: z.array(z.enum(ALERT_TYPES)),
  /** Alerts whose onset is in this batch. */
  alerts: z.array(alertOnsetSchema),
  /**
   * The file reached the enclave after its successor had been analysed without it (late beyond the reorder hold):
   * analysed on its own — `window` holds this file's beats only, `gap` is 0, no alerts — and the stream's window,
   * alerts and sequence were left as they were. Absent for a file analysed in order.
   */
  late: z.literal(true).optional(),
  /**
   * The enclave's state commit that holds this result's receipt: its number (1, 2, … , one per commit of the
   * enclave's sealed state) and random id. The gateway keeps the commits it saw and refuses a result from a commit
   * number it saw under another id, or far behind the newest: the host rolled the enclave's state back
   * (src/gateway/enclave-commits.ts). Absent in plain mode (no enclave).
   *
   * In cluster mode (JetStream workers) each partition's state has its own commits: `p` names the partition, `n`
   * counts that partition's commits and `id` is the sealed checkpoint piece that holds the receipt
   * (src/enclave/partition-core.ts). Numbers of different partitions are unrelated, so a gateway judges them per `p`.
   */
  state_commit: z
    .union([
      z.strictObject({
        n: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
        id: z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'a commit id is 16 bytes, base64url'),
      }),
      z.strictObject({
        p: z.number().int().min(0).max(MAX_PARTITIONS - 1),
        n: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
        id: z.string().regex(/^[0-9a-f]{16}$/, 'a checkpoint piece id is 8 bytes, hex'),
      }),
    ])
    .optional(),
});
export type HrvResult = z.infer<typeof hrvResultSchema>;
