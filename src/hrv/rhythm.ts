/**
 * Irregular rhythm (suspected atrial fibrillation) from RR intervals alone.
 *
 * AF makes the ventricular rhythm "irregularly irregular": successive intervals differ by a large and
 * unpredictable amount. Ectopy is irregular too, but regularly so: a premature beat followed by a
 * compensatory pause spans two normal cycles, so bigeminy and trigeminy (MIT-BIH 119) show large
 * successive differences that a plain nRMSSD or turning-point test would call AF. Hence the figure is
 * taken AFTER ectopic removal:
 * 1. the local normal interval is the running median of pair means (RR[i] + RR[i+1]) / 2, which stays on
 *    the normal cycle under bigeminy (see rr-clean.ts);
 * 2. a short interval (≥ 12% below that reference) followed by one that makes the pair add up to two
 *    normal cycles (±12%) is a premature beat with its compensatory pause: both intervals are removed;
 * 3. the irregularity is the median, over successive pairs of the remaining intervals that are adjacent
 *    in the input, of |ΔRR| / reference — a robust normalised successive difference, dimensionless.
 * In sinus rhythm (even with strong respiratory arrhythmia) it is a few percent; under AF it is typically
 * 10–25% because removal in step 2 only takes the pairs that happen to sum to two cycles. Bigeminy and
 * trigeminy leave only normal intervals (often no adjacent pairs at all), so they are not flagged.
 * AF is suspected when the irregularity exceeds 0.08, at most 45% of intervals were removed as ectopic
 * (more means organised ectopy, not fibrillation) and the successive differences are anti-correlated like
 * those of independent intervals (lag-1 autocorrelation < −0.15; a smooth sinus arrhythmia is ≥ 0).
 *
 * For a sliding window (the enclave's 5 minutes): call `assessRhythm(window)` on the window's RrSeries
 * (tMs/rrMs Float64Arrays, ms, gaps allowed, uncleaned — cleaning first would remove the irregularity it
 * measures). It is pure and O(n log 20); it needs ≥ 40 successive pairs left after ectopic removal, else
 * `irregularity` is null and `af_suspected` false. Output: `af_suspected`, `irregularity` (the figure
 * behind the flag), `irregularity_threshold` (0.08), `n_pairs`, `ectopic_fraction`, `nrmssd`,
 * `delta_autocorr`. On MIT-BIH (5-min blocks of every annotated interval) it flags every AF block of 201,
 * 203, 210, 221 and no block of 100, 105, 116, 119; it also flags parts of 201's non-AF stretches (SVTA,
 * aberrant beats), two blocks of 208 (runs of PVCs with fusion beats) and 804 (frequent irregular ectopy).
 */
import { HrvError } from './errors.js';
import { runningMedian } from './rr-clean-median.js';
import { followsGap } from './segments.js';
import type { RrSeries } from './types.js';

/** Irregularity (median |ΔRR| / local normal RR after ectopic removal) above which AF is suspected. */
export const AF_IRREGULARITY_THRESHOLD = 0.08;
/** Fewest successive pairs of remaining intervals needed to judge the rhythm (about 30 s of AF at 100 bpm). */
export const AF_MIN_PAIRS = 40;
/**
 * Largest share of intervals explained as premature beat + compensatory pause for which AF is still
 * suspected: beyond it the rhythm is organised ectopy (runs of bigeminy, couplets, MIT-BIH 200 and 208),
 * whose left-over intervals scatter without the rhythm being fibrillation. AF stretches of 201, 203, 210,
 * 221 stay below 0.41.
 */
export const AF_MAX_ECTOPIC_FRACTION = 0.45;
/**
 * Largest lag-1 autocorrelation of successive differences for which AF is suspected. Independent intervals
 * give −0.5 (AF windows of 201, 203, 210, 221: −0.21 to −0.64); a strong but smooth respiratory sinus
 * arrhythmia gives cos(2π·f_resp·RR) ≥ 0 while breathing is slower than a quarter of the beat rate, so a
 * large irregularity that is smooth is not called AF.
 */
export const AF_MAX_DELTA_AUTOCORR = -0.15;
/** Relative shortening that marks a premature beat, and tolerance of the compensatory pair sum. */
const PREMATURE = 0.12;
const COMPENSATORY_TOL = 0.12;
/** Half-width of the running median of pair means, intervals. */
const REF_HALF_WIDTH = 20;

/** The rhythm judgement of one RR series: whether AF is suspected and the figures behind it. */
export interface RhythmAssessment {
  /** True when the rhythm is irregularly irregular after ectopic removal (suspected atrial fibrillation). */
  af_suspected: boolean;
  /** Median |ΔRR| / local normal RR over successive pairs after ectopic removal (dimensionless); null when too few pairs. */
  irregularity: number | null;
  /** Threshold the irregularity is compared with (dimensionless). */
  irregularity_threshold: number;
  /** Successive pairs the irregularity is computed from. */
  n_pairs: number;
  /** Share of intervals removed as premature beat + compensatory pause (0–1). */
  ectopic_fraction: number;
  /** Root mean square of |ΔRR| / reference over the same pairs (a normalised RMSSD; dimensionless), null when too few pairs. */
  nrmssd: number | null;
  /**
   * Lag-1 autocorrelation of the successive differences (−1…1), null when too few pairs: about −0.5 for
   * independent intervals (AF), near or above 0 for a smooth oscillation (strong sinus arrhythmia).
   */
  delta_autocorr: number | null;
}

function emptyAssessment(): RhythmAssessment {
  return {
    af_suspected: false,
    irregularity: null,
    irregularity_threshold: AF_IRREGULARITY_THRESHOLD,
    n_pairs: 0,
    ectopic_fraction: 0,
    nrmssd: null,
    delta_autocorr: null,
  };
}

/**
 * Suspected AF from an RR series (tMs/rrMs in ms, gaps allowed): irregularity after removing premature
 * beats with compensatory pauses; see the module comment. Pure; O(n log w).
 */
export function assessRhythm(series: RrSeries): RhythmAssessment {
  const { tMs, rrMs } = series;
  if (tMs.length !== rrMs.length) throw new HrvError('HRV_ERR_INPUT', `RR series has ${tMs.length} beat times but ${rrMs.length} intervals`);
  const n = rrMs.length;
  if (n < 3) return emptyAssessment();
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(rrMs[i]!) || !(rrMs[i]! > 0)) throw new HrvError('HRV_ERR_INPUT', `RR interval ${i} is ${String(rrMs[i])} ms; intervals must be positive`);
  }
  const contiguous = new Uint8Array(n);
  for (let i = 1; i < n; i++) contiguous[i] = followsGap(series, i) ? 0 : 1;
  const pairs = new Float64Array(n);
  for (let i = 0; i < n; i++) pairs[i] = i + 1 < n && contiguous[i + 1] ? (rrMs[i]! + rrMs[i + 1]!) / 2 : i > 0 && contiguous[i] ? (rrMs[i]! + rrMs[i - 1]!) / 2 : rrMs[i]!;
  const ref = runningMedian(pairs, REF_HALF_WIDTH);

  return judgeRhythm(rrMs, ref, contiguous, 0, n);
}

/**
 * The rhythm judgement of intervals [a, b) given the local normal interval `ref` (ms) and `contiguous`
 * (1 where interval i starts at beat i − 1); shared with cleanRr, which has both at hand.
 */
export function judgeRhythm(rrMs: ArrayLike<number>, ref: ArrayLike<number>, contiguous: ArrayLike<number>, a: number, b: number): RhythmAssessment {
  const n = b - a;
  const empty = emptyAssessment();
  if (n < 3) return empty;
  // Local indices 0 … n − 1 map to a … b − 1; interval a never pairs with a − 1.
  const rr = (i: number): number => rrMs[a + i]!;
  const rf = (i: number): number => ref[a + i]!;
  const cont = (i: number): boolean => i > 0 && contiguous[a + i] === 1;
  const removed = new Uint8Array(n);
  let nRemoved = 0;
  for (let i = 0; i + 1 < n; i++) {
    if (removed[i] || !cont(i + 1)) continue;
    const r = rf(i);
    if (rr(i) < (1 - PREMATURE) * r && Math.abs((rr(i) + rr(i + 1)) / (2 * r) - 1) <= COMPENSATORY_TOL) {
      removed[i] = 1;
      removed[i + 1] = 1;
      nRemoved += 2;
      i++;
    }
  }
  const diffs: number[] = [];
  let sq = 0;
  // Lag-1 products of successive (signed) differences, for their autocorrelation.
  const signed = new Float64Array(n).fill(NaN);
  for (let i = 1; i < n; i++) {
    if (!cont(i) || removed[i] || removed[i - 1]) continue;
    signed[i] = (rr(i) - rr(i - 1)) / rf(i);
    const d = Math.abs(signed[i]!);
    diffs.push(d);
    sq += d * d;
  }
  let c0 = 0;
  let c1 = 0;
  for (let i = 2; i < n; i++) {
    if (Number.isNaN(signed[i]!) || Number.isNaN(signed[i - 1]!)) continue;
    c0 += signed[i]! * signed[i]!;
    c1 += signed[i]! * signed[i - 1]!;
  }
  const deltaAutocorr = c0 > 0 ? c1 / c0 : null;
  const out = { ...empty, n_pairs: diffs.length, ectopic_fraction: nRemoved / n };
  if (diffs.length < AF_MIN_PAIRS) return out;
  const sorted = Float64Array.from(diffs).sort();
  const m = sorted.length >> 1;
  const irregularity = sorted.length % 2 === 1 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
  return {
    ...out,
    irregularity,
    nrmssd: Math.sqrt(sq / diffs.length),
    delta_autocorr: deltaAutocorr,
    af_suspected:
      irregularity > AF_IRREGULARITY_THRESHOLD &&
      out.ectopic_fraction <= AF_MAX_ECTOPIC_FRACTION &&
      deltaAutocorr !== null &&
      deltaAutocorr < AF_MAX_DELTA_AUTOCORR,
  };
}
