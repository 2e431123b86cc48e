/**
 * Downsampled trends of a patient's HRV windows, as the API answers them and the dashboard charts them: [from, to)
 * in N equal time buckets, each with the count, min, mean and max of the headline measures.
 */
import { z } from 'zod';

/** The measures a trend shows, by their contract names. */
export const TREND_MEASURES = ['mean_hr_bpm', 'sdnn_ms', 'rmssd_ms', 'lf_hf'] as const;
export type TrendMeasure = (typeof TREND_MEASURES)[number];

/** Most buckets one answer has. */
export const MAX_TREND_BUCKETS = 5000;

const stat = z.object({ n: z.number().int(), min: z.number().nullable(), mean: z.number().nullable(), max: z.number().nullable() });
export type TrendStat = z.infer<typeof stat>;

export const trendBucketSchema = z.object({
  /** The bucket's interval [t_start_ms, t_end_ms), ms since the epoch. */
  t_start_ms: z.number(),
  t_end_ms: z.number(),
  /** Windows that fell in the bucket (with or without measures). */
  windows: z.number().int(),
  mean_hr_bpm: stat,
  sdnn_ms: stat,
  rmssd_ms: stat,
  lf_hf: stat,
});
export type TrendBucket = z.infer<typeof trendBucketSchema>;

export const trendsAnswerSchema = z.object({
  patient_id: z.string(),
  from_ms: z.number(),
  to_ms: z.number(),
  /** Width of every bucket, ms (the last one ends at to_ms). */
  bucket_ms: z.number(),
  /** HRV windows read in the range. */
  windows: z.number().int(),
  /** Stored `hrv` records whose data is not the HRV record contract: left out and counted, never charted blank. */
  refused: z.number().int(),
  buckets: z.array(trendBucketSchema),
  integrity_failures: z.array(z.object({ seq: z.number().int(), reason: z.string() })),
});
export type TrendsAnswer = z.infer<typeof trendsAnswerSchema>;

