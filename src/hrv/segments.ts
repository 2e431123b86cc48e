/**
 * Gap logic shared by every measure: an interval follows a gap when its start is not the previous beat's
 * time. Successive differences are taken only inside a contiguous run; nothing bridges a gap.
 */
import { GAP_TOLERANCE_MS, type RrSeries } from './types.js';

/** True when interval i of the series follows a gap (the first interval always starts a run). */
export function followsGap(series: RrSeries, i: number): boolean {
  if (i === 0) return true;
  const start = series.tMs[i]! - series.rrMs[i]!;
  return Math.abs(start - series.tMs[i - 1]!) > GAP_TOLERANCE_MS;
}

/** Index ranges [start, end) of the contiguous runs of intervals (no gap inside a run). */
export function contiguousRuns(series: RrSeries): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  const n = series.rrMs.length;
  let start = 0;
  for (let i = 1; i < n; i++) {
    if (followsGap(series, i)) {
      runs.push([start, i]);
      start = i;
    }
  }
  if (n > 0) runs.push([start, n]);
  return runs;
}

/** Successive differences RR[i] − RR[i−1], ms, taken only where interval i does not follow a gap. */
export function successiveDifferences(series: RrSeries): Float64Array {
  const n = series.rrMs.length;
  const out = new Float64Array(Math.max(0, n - 1));
  let k = 0;
  for (let i = 1; i < n; i++) {
    if (!followsGap(series, i)) out[k++] = series.rrMs[i]! - series.rrMs[i - 1]!;
  }
  return out.subarray(0, k);
}

/** Builds a series from RR intervals alone: beat times are their cumulative sum from time 0 (ms). */
export function seriesFromIntervals(rrMs: ArrayLike<number>, firstBeatMs = 0): RrSeries {
  const rr = Float64Array.from(rrMs);
  const t = new Float64Array(rr.length);
  let acc = firstBeatMs;
  for (let i = 0; i < rr.length; i++) {
    acc += rr[i]!;
    t[i] = acc;
  }
  return { tMs: t, rrMs: rr };
}

/** The sub-series of the intervals whose indices are in [start, end). */
export function sliceSeries(series: RrSeries, start: number, end: number): RrSeries {
  return { tMs: series.tMs.subarray(start, end), rrMs: series.rrMs.subarray(start, end) };
}
