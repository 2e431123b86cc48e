/**
 * Downsampled trends: a patient's HRV windows in [from, to) folded into N equal time buckets, each with
 * the min, mean and max of the headline measures, so a chart of months of 5-minute windows stays a few
 * hundred points. Computed here from the CSP's paged record reads; the fold itself is pure.
 */
import { hrvRecordDataSchema, TREND_MEASURES, type TrendBucket, type TrendMeasure, type TrendStat, type TrendsAnswer } from '../contracts/index.js';
import type { CspService, Principal, RecordView } from '../csp/index.js';

export { MAX_TREND_BUCKETS, TREND_MEASURES, trendBucketSchema, trendsAnswerSchema, type TrendBucket, type TrendMeasure, type TrendsAnswer, type TrendStat } from '../contracts/index.js';

/** One window as the fold sees it: its time (ms) and its measures (null where too short to compute). */
export interface TrendPoint {
  t_ms: number;
  measures: Record<TrendMeasure, number | null> | null;
}

/** Folds points into `buckets` equal buckets over [fromMs, toMs); points outside are ignored. */
export function foldTrend(points: Iterable<TrendPoint>, fromMs: number, toMs: number, buckets: number): { bucket_ms: number; buckets: TrendBucket[] } {
  const width = (toMs - fromMs) / buckets;
  const sums = () => ({ n: 0, sum: 0, min: Infinity, max: -Infinity });
  const acc = Array.from({ length: buckets }, () => ({
    windows: 0,
    m: { mean_hr_bpm: sums(), sdnn_ms: sums(), rmssd_ms: sums(), lf_hf: sums() } satisfies Record<TrendMeasure, ReturnType<typeof sums>>,
  }));
  for (const p of points) {
    if (!(p.t_ms >= fromMs && p.t_ms < toMs)) continue;
    // Float width: the index is clamped so rounding never puts a point past the last bucket.
    const b = acc[Math.min(buckets - 1, Math.floor((p.t_ms - fromMs) / width))]!;
    b.windows++;
    if (!p.measures) continue;
    for (const k of TREND_MEASURES) {
      const v = p.measures[k];
      if (v === null || !Number.isFinite(v)) continue;
      const s = b.m[k];
      s.n++;
      s.sum += v;
      if (v < s.min) s.min = v;
      if (v > s.max) s.max = v;
    }
  }
  const statOf = (s: ReturnType<typeof sums>): TrendStat =>
    s.n === 0 ? { n: 0, min: null, mean: null, max: null } : { n: s.n, min: s.min, mean: s.sum / s.n, max: s.max };
  return {
    bucket_ms: width,
    buckets: acc.map((b, i) => ({
      t_start_ms: fromMs + i * width,
      t_end_ms: i === buckets - 1 ? toMs : fromMs + (i + 1) * width,
      windows: b.windows,
      mean_hr_bpm: statOf(b.m.mean_hr_bpm),
      sdnn_ms: statOf(b.m.sdnn_ms),
      rmssd_ms: statOf(b.m.rmssd_ms),
      lf_hf: statOf(b.m.lf_hf),
    })),
  };
}

/** Records read per CSP call; the CSP's largest page. */
const PAGE = 10_000;

/**
 * A patient's trend over [fromMs, toMs) in `buckets` buckets, read through `csp.getRecords` page by page
 * (so the CSP's policy, audit and integrity checks apply to every window). `pageSize` is for tests.
 */
export async function readTrends(
  csp: CspService,
  p: Principal,
  patientId: string,
  q: { from_ms: number; to_ms: number; buckets: number; break_glass_reason?: string | undefined },
  pageSize = PAGE,
): Promise<TrendsAnswer> {
  const points: TrendPoint[] = [];
  const integrity_failures: TrendsAnswer['integrity_failures'] = [];
  let refused = 0;
  const take = (r: RecordView): void => {
    const d = hrvRecordDataSchema.safeParse(r.data);
    if (!d.success) {
      refused++;
      return;
    }
    points.push({ t_ms: r.t_ms, measures: d.data.measures });
  };
  for (let offset = 0; ; offset += pageSize) {
    const page = await csp.getRecords(p, patientId, {
      type: 'hrv',
      from_ms: q.from_ms,
      to_ms: q.to_ms,
      limit: pageSize,
      offset,
      ...(q.break_glass_reason !== undefined ? { break_glass_reason: q.break_glass_reason } : {}),
    });
    page.records.forEach(take);
    integrity_failures.push(...page.integrity_failures);
    if (offset + pageSize >= page.total) break;
  }
  const fold = foldTrend(points, q.from_ms, q.to_ms, q.buckets);
  return { patient_id: patientId, from_ms: q.from_ms, to_ms: q.to_ms, windows: points.length + refused, refused, integrity_failures, ...fold };
}
