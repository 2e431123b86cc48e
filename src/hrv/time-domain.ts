/**
 * Time-domain HRV measures of an NN series (Task Force 1996 definitions). Successive differences are
 * taken only inside contiguous runs (see segments.ts); nothing is computed across a gap.
 */
import { successiveDifferences } from './segments.js';
import type { RrSeries, TimeDomainMeasures } from './types.js';

/** Histogram bin of the geometric measures: 1/128 s, as the Task Force recommends (ms). */
export const HISTOGRAM_BIN_MS = 1000 / 128;

/** Fewest intervals for the geometric measures (HTI, TINN): a histogram of fewer is not a distribution. */
export const MIN_INTERVALS_GEOMETRIC = 50;

function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return s / xs.length;
}

/** Sample standard deviation (n − 1); null below two values. */
export function sampleSd(xs: ArrayLike<number>): number | null {
  const n = xs.length;
  if (n < 2) return null;
  const m = mean(xs);
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = xs[i]! - m;
    ss += d * d;
  }
  return Math.sqrt(ss / (n - 1));
}

/**
 * Histogram of intervals on a fixed grid of 1/128 s bins anchored at 0 ms (so windows are comparable and
 * the result matches NeuroKit2's); returns the occupied range of bins.
 */
export function nnHistogram(rr: ArrayLike<number>): { counts: Int32Array; start: number } {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < rr.length; i++) {
    lo = Math.min(lo, rr[i]!);
    hi = Math.max(hi, rr[i]!);
  }
  const first = Math.floor(lo / HISTOGRAM_BIN_MS);
  const bins = Math.floor(hi / HISTOGRAM_BIN_MS) - first + 1;
  const counts = new Int32Array(bins);
  for (let i = 0; i < rr.length; i++) counts[Math.floor(rr[i]! / HISTOGRAM_BIN_MS) - first]!++;
  return { counts, start: first * HISTOGRAM_BIN_MS };
}

/**
 * TINN (ms): base width M − N of the triangle q (zero outside [N, M], peak at the histogram's mode)
 * that best fits the histogram in least squares, searched over bin edges.
 */
export function tinn(counts: Int32Array): number {
  const nb = counts.length;
  let peak = 0;
  let occupied = 0;
  for (let i = 0; i < nb; i++) {
    if (counts[i]! > counts[peak]!) peak = i;
    if (counts[i]! > 0) occupied++;
  }
  // All intervals in one bin: no spread to fit a triangle to.
  if (occupied <= 1) return 0;
  const y = counts[peak]!;
  // Prefix sums of counts² give the error outside the triangle in O(1).
  const sq = new Float64Array(nb + 1);
  for (let i = 0; i < nb; i++) sq[i + 1] = sq[i]! + counts[i]! * counts[i]!;
  // The falling edge's error depends on M only, so it is computed once per M: O(bins²) in all.
  const rightErr = new Float64Array(nb + 1);
  for (let mIdx = peak + 1; mIdx <= nb; mIdx++) {
    let right = 0;
    for (let i = peak + 1; i < mIdx; i++) right += (counts[i]! - (y * (mIdx - i)) / (mIdx - peak)) ** 2;
    rightErr[mIdx] = right + sq[nb]! - sq[mIdx]!;
  }
  let best = Infinity;
  let bestWidth = 0;
  for (let nIdx = 0; nIdx <= peak; nIdx++) {
    let left = sq[nIdx]!;
    for (let i = nIdx; i < peak; i++) left += (counts[i]! - (y * (i - nIdx)) / (peak - nIdx)) ** 2;
    for (let mIdx = peak + 1; mIdx <= nb; mIdx++) {
      const err = left + rightErr[mIdx]!;
      if (err < best) {
        best = err;
        bestWidth = mIdx - nIdx;
      }
    }
  }
  return bestWidth * HISTOGRAM_BIN_MS;
}

/** Time-domain measures of the NN intervals of `series`; null where there are too few intervals. */
export function timeDomain(series: RrSeries): TimeDomainMeasures {
  const rr = series.rrMs;
  const n = rr.length;
  const diffs = successiveDifferences(series);
  const nd = diffs.length;
  const meanNn = n > 0 ? mean(rr) : null;
  let sumSq = 0;
  let over50 = 0;
  let over20 = 0;
  for (let i = 0; i < nd; i++) {
    const d = diffs[i]!;
    sumSq += d * d;
    const a = Math.abs(d);
    if (a > 50) over50++;
    if (a > 20) over20++;
  }
  let hti: number | null = null;
  let tinnMs: number | null = null;
  if (n >= MIN_INTERVALS_GEOMETRIC) {
    const { counts } = nnHistogram(rr);
    let max = 0;
    for (let i = 0; i < counts.length; i++) max = Math.max(max, counts[i]!);
    hti = n / max;
    tinnMs = tinn(counts);
  }
  return {
    mean_nn_ms: meanNn,
    sdnn_ms: sampleSd(rr),
    rmssd_ms: nd > 0 ? Math.sqrt(sumSq / nd) : null,
    sdsd_ms: sampleSd(diffs),
    pnn50_pct: nd > 0 ? (100 * over50) / nd : null,
    pnn20_pct: nd > 0 ? (100 * over20) / nd : null,
    // Mean heart rate from the mean interval (60 000 / mean NN), the definition Kubios reports.
    mean_hr_bpm: meanNn !== null && meanNn > 0 ? 60_000 / meanNn : null,
    hti,
    tinn_ms: tinnMs,
  };
}
