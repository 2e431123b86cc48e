/**
 * RR cleaning for sources that give only RR intervals (chest straps, the gateway's files): physiological
 * limits, then ectopic beats and artefacts found against a local reference of the NORMAL rhythm.
 *
 * Why not Lipponen & Tarvainen (2019) as is: its thresholds scale with the quartile deviation of successive
 * differences and its reference is the local median of all intervals. Under bigeminy half the intervals are
 * premature and half are compensatory pauses, so the spread explodes, the thresholds follow it and almost
 * nothing is flagged (NeuroKit2's implementation leaves MIT-BIH 119 at RMSSD 489.6 ms against 37.5 ms).
 *
 * Our reference is the running median of pair means (RR[i] + RR[i+1]) / 2. A premature beat followed by a
 * compensatory pause spans two normal cycles, so the pair mean over short + long equals the normal interval;
 * in sinus rhythm the pair mean is just a smoothed interval. Bigeminy, trigeminy and isolated ectopy all
 * leave the median of pair means on the normal interval, where the median of intervals would sit on the
 * premature or the compensatory value. Against that reference:
 * - a short interval ends a premature beat: both intervals touching it are excluded (as the reference NN
 *   definition drops every interval touching a non-N beat), and runs of premature beats are followed;
 * - short fragments that add up to one normal interval (±8%) are extra beats (false detections): merged,
 *   which restores the true interval exactly;
 * - a long interval within 8% of k normal intervals (k = 2–4) hides k − 1 missed beats: split into k equal
 *   intervals, also inside a run of such intervals (a strap dropping every other beat), where none stands
 *   out from its neighbours; a coarse reference (~60 intervals each side) on which those intervals are
 *   folded back keeps the run from dragging the reference up. Runs are reported (`missed_beat_runs`);
 * - any other long interval that stands out from both neighbours is excluded as an artefact, or kept as a
 *   pause with `keepPauses` (genuine pauses fall short of 2×: MIT-BIH 118's are 1.7–1.9×);
 * - in 5-minute blocks whose rhythm is irregularly irregular (suspected AF, rhythm.ts) nothing of the above
 *   is done: the irregularity is the rhythm, not ectopy, and the report names the blocks.
 * "Short" and "long" mean beyond a relative threshold (15%) that also demands an abrupt change from the
 * neighbouring interval, so the slow waves of sinus arrhythmia are not taken for ectopy; a second pass
 * widens the threshold (up to 30%) where the successive differences of the beats kept as normal show a
 * highly variable sinus rhythm.
 * Exclusion leaves a gap (the next kept interval does not start at the previous kept beat), so successive
 * differences are never taken across it (see segments.ts).
 */
import { HrvError } from './errors.js';
import { runningMedian } from './rr-clean-median.js';
import { judgeRhythm } from './rhythm.js';
import { followsGap } from './segments.js';
import type { RrSeries } from './types.js';

/** What cleaning did, in input intervals. n_input = n_kept + n_excluded; n_excluded = n_out_of_range + n_ectopic + n_artefact; n_corrected ⊆ n_kept. */
export interface RrCleaningReport {
  n_input: number;
  /** Input intervals that reach the output, unchanged or corrected. */
  n_kept: number;
  /** Input intervals dropped; each leaves a gap. */
  n_excluded: number;
  /** Input intervals replaced by reconstructed ones (extra beats merged, missed beats split). */
  n_corrected: number;
  n_out_of_range: number;
  /** Intervals touching a premature (ectopic) beat. */
  n_ectopic: number;
  /** Long intervals that are not a whole number of normal intervals. */
  n_artefact: number;
  method: 'auto' | 'none';
  /** True when some stretch of the input was judged an irregular rhythm (suspected AF) and left uncorrected. */
  af_suspected: boolean;
  /** Stretches [start_s, end_s) judged irregular (suspected AF), where no ectopic exclusion or correction was done. */
  af_spans_s: Array<[number, number]>;
  /** Input intervals inside those stretches, passed through uncorrected (out-of-range ones still excluded). */
  n_af_uncorrected: number;
  /** Runs of consecutive intervals with missed beats (each a whole multiple of the normal interval), split. */
  missed_beat_runs: MissedBeatRun[];
}

/** A run of consecutive long intervals that each hide one or more missed beats. */
export interface MissedBeatRun {
  /** Start of the first interval of the run, s. */
  start_s: number;
  /** End of the last interval of the run, s. */
  end_s: number;
  /** Input intervals in the run. */
  n_intervals: number;
  /** Beats restored by splitting (Σ (k − 1)). */
  n_missed: number;
}

export interface RrCleaningOptions {
  /** 'auto' (default) cleans; 'none' returns the input unchanged. */
  method?: 'auto' | 'none';
  /**
   * Shortest plausible interval, ms (default 250 = 240 bpm): above any sinus rate even in maximal exercise;
   * shorter intervals are double detections (T waves, noise).
   */
  minRrMs?: number;
  /**
   * Longest plausible interval, ms (default 3000 = 20 bpm): sinus bradycardia below 30 bpm in trained athletes
   * and sleep is real and must not be refused wholesale; longer intervals are dropouts or pauses that HRV
   * must not include. Raise it for recordings with slower rhythms.
   */
  maxRrMs?: number;
  /** Relative deviation from the local normal interval that marks a beat as premature or an interval as long (default 0.15). */
  threshold?: number;
  /**
   * Relative tolerance for merged fragments to count as one normal interval (default 0.08): a false detection
   * splits a true interval, whose sum differs from the reference only by beat-to-beat variability; a PVC
   * without compensatory pause sums to ~1.1 × (MIT-BIH 805: merging those at 15% doubled RMSSD).
   */
  tolerance?: number;
  /** Half-width of the running median of pair means, intervals (default 20: about ±15 s at rest). */
  referenceHalfWidth?: number;
  /** Merge extra beats and split missed beats (default true); when false, short fragments are excluded as ectopic or out of range and long intervals as artefacts. */
  correct?: boolean;
  /**
   * Judge the rhythm of every block of `rhythmBlockS` seconds (default true): where it is irregular (suspected
   * AF, see rhythm.ts) the irregularity is the signal, not ectopy, so nothing there is excluded as ectopic or
   * corrected — only out-of-range intervals go — and the report says so.
   */
  rhythmCheck?: boolean;
  /**
   * Keep long intervals that stand out but are no whole number of normal cycles (sinus pauses, non-conducted
   * beats) instead of excluding them as artefacts (default false). From intervals alone a real pause and a
   * detection artefact look alike; on MIT-BIH 105, 118 and 231 keeping them brings RMSSD closer to the NN
   * value, on records with unrecognised ectopy (200, 208, 223, 228) further away (docs/validation.md).
   */
  keepPauses?: boolean;
  /** Length of the blocks the rhythm is judged on, s (default 300, the standard HRV window; aligned at time 0). */
  rhythmBlockS?: number;
}

/** Largest number of normal intervals a long interval may be split into (more is a dropout, not a missed beat). */
const MAX_SPLIT = 4;
/**
 * Half-width multiplier of the coarse reference used to recognise runs of missed beats: a run of doubled
 * intervals shorter than this many intervals (3 × 20 = 60, about 45 s) cannot move the coarse median, so its
 * intervals are folded back onto the normal cycle before the fine reference is taken. A 2:1 rhythm lasting
 * longer (a real 2:1 block) moves it and is then taken as the rhythm, not split.
 */
const COARSE_FACTOR = 3;
/**
 * Relative tolerance for a long interval to count as a whole multiple of the normal one (missed beats). A
 * missed detection leaves the rhythm running, so the interval is k cycles within beat-to-beat variability;
 * genuine pauses (sinus pause, a non-conducted beat) fall short: MIT-BIH 118's are 1.7–1.9 × and were split
 * into invented beats at the former 15%.
 */
const MULTIPLE_TOL = 0.08;
/** Smallest ratio to the reference from which an interval can be a whole multiple (2×) without standing out from its neighbours. */
const MULTIPLE_MIN = 1.7;
/** Most fragments merged back into one interval. */
const MAX_MERGE = 4;
/**
 * Threshold = SPREAD_FACTOR × median |ΔRR| of the normal rhythm when that exceeds the fixed threshold. For
 * Gaussian differences median |Δ| ≈ 0.67 σ, so 5 × ≈ 3.4 σ: sinus beats rarely cross it.
 */
const SPREAD_FACTOR = 5;
/** Never wider than this: premature beats typically come 20–45% early, and a wider threshold would miss them. */
const MAX_THRESHOLD = 0.3;

const KEEP = 0;
const OUT_OF_RANGE = 1;
const ECTOPIC = 2;
const ARTEFACT = 3;
const MERGED = 4;
const SPLIT = 5;

function positiveOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new HrvError(
      'HRV_ERR_INPUT',
      `RR cleaning option ${name} must be a positive number, got ${String(value)}`,
    );
  }
  return value;
}

function validateSeries(series: RrSeries): void {
  const { tMs, rrMs } = series;
  if (tMs.length !== rrMs.length) {
    throw new HrvError(
      'HRV_ERR_INPUT',
      `RR series has ${tMs.length} beat times but ${rrMs.length} intervals`,
    );
  }
  for (let i = 0; i < rrMs.length; i++) {
    const rr = rrMs[i]!;
    if (!Number.isFinite(rr) || rr <= 0) {
      throw new HrvError('HRV_ERR_INPUT', `RR interval ${i} is ${String(rr)} ms; intervals must be positive`);
    }
    if (!Number.isFinite(tMs[i]!))
      throw new HrvError('HRV_ERR_INPUT', `beat time ${i} is not a finite number`);
    if (i > 0 && tMs[i]! <= tMs[i - 1]!) {
      throw new HrvError(
        'HRV_ERR_INPUT',
        `beat times go backwards at interval ${i} (${tMs[i - 1]} → ${tMs[i]} ms)`,
      );
    }
  }
}

/**
 * Local normal interval (ms) for every input interval: running median of pair means over the in-range
 * intervals; out-of-range intervals take the reference of the nearest preceding in-range one.
 */
function normalReference(rr: Float64Array, inRange: Uint8Array, halfWidth: number, stride = 1): Float64Array {
  const n = rr.length;
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (inRange[i]) idx.push(i);
  const ref = new Float64Array(n);
  const m = idx.length;
  if (m === 0) return ref.fill(NaN);
  const pairs = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    const a = rr[idx[k]!]!;
    pairs[k] = k + 1 < m ? (a + rr[idx[k + 1]!]!) / 2 : m > 1 ? (a + rr[idx[k - 1]!]!) / 2 : a;
  }
  // With a stride, the median runs over every stride-th pair mean (same span, stride× cheaper): for the
  // coarse reference, whose window spans ~120 intervals, that is ample.
  const sub = stride === 1 ? pairs : pairs.filter((_, k) => k % stride === 0);
  const med = runningMedian(sub, Math.max(1, Math.round(halfWidth / stride)));
  let k = 0;
  for (let i = 0; i < n; i++) {
    while (k + 1 < m && idx[k + 1]! <= i) k++;
    ref[i] = med[Math.min(sub.length - 1, Math.round(k / stride))]!;
  }
  return ref;
}

interface Context {
  n: number;
  rr: Float64Array;
  ref: Float64Array;
  inRange: Uint8Array;
  contiguous: Uint8Array;
  minRr: number;
  maxRr: number;
  tol: number;
  correct: boolean;
  keepPauses: boolean;
}

/** Mean of the intervals just before a and just after b (ms), or the reference when neither is contiguous. */
function neighbourMean(c: Context, a: number, b: number): number {
  let sum = 0;
  let count = 0;
  if (a > 0 && c.contiguous[a]) {
    sum += c.rr[a - 1]!;
    count++;
  }
  if (b + 1 < c.n && c.contiguous[b + 1]) {
    sum += c.rr[b + 1]!;
    count++;
  }
  return count > 0 ? sum / count : c.ref[a]!;
}

/** Per-interval status and the extent of merges and splits, for thresholds thr (relative to the reference). */
function classify(c: Context, thr: Float64Array): { status: Uint8Array; extent: Uint8Array } {
  const { n, rr, ref, inRange, contiguous, minRr, maxRr, tol, correct } = c;
  const status = new Uint8Array(n);
  // For a merge, the number of fragments (at its first interval); for a split, the number of parts.
  const extent = new Uint8Array(n);
  const rel = (i: number): number => rr[i]! / ref[i]!;
  const usable = (j: number): boolean => j < n && contiguous[j] === 1 && status[j] === KEEP;

  let i = 0;
  while (i < n) {
    const r = rel(i);
    if (Number.isNaN(r)) {
      status[i++] = OUT_OF_RANGE;
      continue;
    }
    // Extra beats: a short fragment (or an implausibly short one) that adds up with its neighbours to one
    // normal interval. Both directions are tried, since a false beat late in a cycle leaves the long fragment first.
    if (correct && (r < 1 - thr[i]! || rr[i]! < minRr)) {
      const limit = ref[i]! * (1 + tol);
      let j = i;
      let fwd = rr[i]!;
      while (j - i + 1 < MAX_MERGE && usable(j + 1) && fwd + rr[j + 1]! <= limit) fwd += rr[++j]!;
      // After a false beat the rhythm goes on; a pause after the group means premature beats instead.
      const pauseAfter = usable(j + 1) && rel(j + 1) > 1 + thr[j + 1]!;
      const fwdOk = j > i && !pauseAfter && Math.abs(fwd / ref[i]! - 1) <= tol;
      const back = i > 0 && contiguous[i] && status[i - 1] === KEEP ? rr[i - 1]! + rr[i]! : NaN;
      const backOk = Math.abs(back / ref[i]! - 1) <= tol;
      // When both directions add up to about one cycle, the one that fits its neighbouring intervals wins.
      const fwdErr = fwdOk ? Math.abs(fwd - neighbourMean(c, i, j)) : Infinity;
      const backErr = backOk ? Math.abs(back - neighbourMean(c, i - 1, i)) : Infinity;
      if (backOk && backErr < fwdErr && back <= maxRr) {
        status[i - 1] = MERGED;
        status[i] = MERGED;
        extent[i - 1] = 2;
        i++;
        continue;
      }
      if (fwdOk && fwd >= minRr && fwd <= maxRr) {
        for (let k = i; k <= j; k++) status[k] = MERGED;
        extent[i] = j - i + 1;
        i = j + 1;
        continue;
      }
    }
    if (!inRange[i]) {
      // Beyond the longest plausible interval, yet a whole number of normal cycles (three missed beats at
      // 80 bpm make 3 s): missed beats, split like any other; anything else is out of range.
      const k = Math.round(r);
      const part = rr[i]! / k;
      const multiple = correct && rr[i]! > maxRr && k >= 2 && k <= MAX_SPLIT && Math.abs(r / k - 1) <= MULTIPLE_TOL && part >= minRr && part <= maxRr;
      if (multiple) {
        status[i] = SPLIT;
        extent[i++] = k;
      } else status[i++] = OUT_OF_RANGE;
      continue;
    }
    // A premature beat shortens the interval abruptly, or is followed by an abrupt pause (when it falls in a
    // trough of sinus arrhythmia); a gradual shortening (heart rate rising) is sinus.
    const prevDrop = i > 0 && contiguous[i] ? (rr[i - 1]! - rr[i]!) / ref[i]! : Infinity;
    const nextRise = usable(i + 1) ? (rr[i + 1]! - rr[i]!) / ref[i]! : -Infinity;
    if (r < 1 - thr[i]! && (prevDrop > thr[i]! || nextRise > 2 * thr[i]!)) {
      // Premature beat at the end of interval i; a run of premature beats continues while intervals stay short.
      status[i] = ECTOPIC;
      let j = i + 1;
      while (usable(j) && inRange[j] && rel(j) < 1 - thr[j]!) status[j++] = ECTOPIC;
      // The interval after the last premature beat starts at an ectopic beat, whatever its length.
      if (usable(j) && inRange[j]) status[j++] = ECTOPIC;
      i = j;
      continue;
    }
    // An artefactual long interval stands out from both neighbours; a slow wave of sinus arrhythmia does not.
    const riseFromPrev = i > 0 && contiguous[i] ? (rr[i]! - rr[i - 1]!) / ref[i]! : Infinity;
    const riseOverNext = usable(i + 1) ? (rr[i]! - rr[i + 1]!) / ref[i]! : Infinity;
    // A whole multiple of the normal interval is a missed beat even inside a run of them, where its
    // neighbours are just as long and it does not stand out (two or more missed beats in a row).
    const kRun = Math.round(r);
    const inRun = correct && r >= MULTIPLE_MIN && kRun <= MAX_SPLIT && Math.abs(r / kRun - 1) <= MULTIPLE_TOL;
    if (inRun || (r > 1 + thr[i]! && Math.min(riseFromPrev, riseOverNext) > thr[i]!)) {
      const k = Math.round(r);
      // The parts must themselves be physiological intervals, or the split would invent impossible beats.
      const part = rr[i]! / k;
      if (correct && k >= 2 && k <= MAX_SPLIT && Math.abs(r / k - 1) <= MULTIPLE_TOL && part >= minRr && part <= maxRr) {
        status[i] = SPLIT;
        extent[i] = k;
      } else if (c.keepPauses && rr[i]! <= maxRr) {
        // A pause that is no whole number of cycles: a sinus pause or a non-conducted beat, kept as recorded.
        status[i] = KEEP;
      } else {
        status[i] = ARTEFACT;
      }
      i++;
      continue;
    }
    i++;
  }

  return { status, extent };
}

/**
 * Local spread of the normal rhythm: running median of |ΔRR| / reference over successive pairs that
 * the first pass kept, so premature beats and pauses do not widen it (Lipponen & Tarvainen's thresholds
 * follow all differences and are blown open by bigeminy). Values are relative; NaN where none is known.
 */
function normalSpread(c: Context, status: Uint8Array, halfWidth: number): Float64Array {
  const { n, rr, ref, contiguous } = c;
  const idx: number[] = [];
  const diffs: number[] = [];
  for (let i = 1; i < n; i++) {
    if (contiguous[i] && status[i] === KEEP && status[i - 1] === KEEP) {
      idx.push(i);
      diffs.push(Math.abs(rr[i]! - rr[i - 1]!) / ref[i]!);
    }
  }
  const out = new Float64Array(n).fill(NaN);
  if (idx.length === 0) return out;
  const med = runningMedian(Float64Array.from(diffs), halfWidth);
  let k = 0;
  for (let i = 0; i < n; i++) {
    while (k + 1 < idx.length && idx[k + 1]! <= i) k++;
    out[i] = med[k]!;
  }
  return out;
}

/**
 * Cleans an RR series (ms): excludes out-of-range intervals, ectopic beats and artefacts (gaps), corrects
 * missed and extra beats, leaves suspected-AF blocks uncorrected; `excludedTMs` are the end times (ms) of the
 * excluded input intervals.
 */
export function cleanRr(
  series: RrSeries,
  options: RrCleaningOptions = {},
): { series: RrSeries; report: RrCleaningReport; excludedTMs: Float64Array } {
  const method = options.method ?? 'auto';
  if (method !== 'auto' && method !== 'none') {
    throw new HrvError('HRV_ERR_INPUT', `RR cleaning method must be 'auto' or 'none', got ${String(method)}`);
  }
  const minRr = positiveOption('minRrMs', options.minRrMs, 250);
  const maxRr = positiveOption('maxRrMs', options.maxRrMs, 3000);
  if (minRr >= maxRr) {
    throw new HrvError('HRV_ERR_INPUT', `RR cleaning limits are empty: minRrMs ${minRr} ≥ maxRrMs ${maxRr}`);
  }
  const theta = positiveOption('threshold', options.threshold, 0.15);
  const tol = positiveOption('tolerance', options.tolerance, 0.08);
  if (theta >= 1 || tol >= 1)
    throw new HrvError('HRV_ERR_INPUT', 'RR cleaning threshold and tolerance must be below 1');
  const halfWidth = Math.round(positiveOption('referenceHalfWidth', options.referenceHalfWidth, 20));
  const correct = options.correct ?? true;
  validateSeries(series);

  const n = series.rrMs.length;
  const report: RrCleaningReport = {
    n_input: n,
    n_kept: n,
    n_excluded: 0,
    n_corrected: 0,
    n_out_of_range: 0,
    n_ectopic: 0,
    n_artefact: 0,
    method,
    af_suspected: false,
    af_spans_s: [],
    n_af_uncorrected: 0,
    missed_beat_runs: [],
  };
  if (method === 'none') return { series, report, excludedTMs: new Float64Array(0) };

  const { tMs: t, rrMs: rr } = series;
  const inRange = new Uint8Array(n);
  for (let i = 0; i < n; i++) inRange[i] = rr[i]! >= minRr && rr[i]! <= maxRr ? 1 : 0;
  // Intervals that are whole multiples of a coarse (long-window) reference are folded onto one cycle before
  // the fine reference is taken, so a run of missed beats does not drag the reference up to its own length.
  const coarse = normalReference(rr, inRange, COARSE_FACTOR * halfWidth, 4);
  const folded = Float64Array.from(rr, (v, i) => {
    const k = Math.round(v / coarse[i]!);
    return k >= 2 && k <= MAX_SPLIT && Math.abs(v / (k * coarse[i]!) - 1) <= MULTIPLE_TOL && v / k >= minRr ? v / k : v;
  });
  const ref = normalReference(folded, inRange, halfWidth);
  // contiguous[i]: interval i starts at beat i − 1 (no gap in the input before it).
  const contiguous = new Uint8Array(n);
  for (let i = 1; i < n; i++) contiguous[i] = followsGap(series, i) ? 0 : 1;

  const c: Context = { n, rr, ref, inRange, contiguous, minRr, maxRr, tol, correct, keepPauses: options.keepPauses ?? false };
  // First pass at the fixed threshold finds the normal beats; the second widens the threshold where the
  // normal rhythm itself varies a lot (strong sinus arrhythmia), so its beats are not taken for ectopy.
  const thr = new Float64Array(n).fill(theta);
  const first = classify(c, thr);
  const spread = normalSpread(c, first.status, halfWidth);
  for (let i = 0; i < n; i++) {
    const widened = Math.min(MAX_THRESHOLD, spread[i]! * SPREAD_FACTOR);
    if (widened > theta) thr[i] = widened;
  }
  const { status, extent } = classify(c, thr);

  // Irregular rhythm: in blocks judged AF-suspected, undo every ectopic exclusion and correction (a merge
  // or split reaching into the block is undone as a whole) and keep the in-range intervals as they are.
  const rhythmCheck = options.rhythmCheck ?? true;
  const blockS = positiveOption('rhythmBlockS', options.rhythmBlockS, 300);
  if (rhythmCheck) {
    const af = new Uint8Array(n);
    let a = 0;
    while (a < n) {
      const k = Math.floor(t[a]! / (blockS * 1000));
      let b = a;
      while (b < n && Math.floor(t[b]! / (blockS * 1000)) === k) b++;
      const judged = judgeRhythm(rr, ref, contiguous, a, b);
      if (judged.af_suspected) {
        af.fill(1, a, b);
        report.af_spans_s.push([k * blockS, (k + 1) * blockS]);
      }
      a = b;
    }
    if (report.af_spans_s.length > 0) {
      report.af_suspected = true;
      for (let k = 0; k < n; k++) {
        if (status[k] !== MERGED || extent[k] === 0) continue;
        let touches = false;
        for (let q = k; q < k + extent[k]!; q++) if (af[q]) touches = true;
        if (touches) for (let q = k; q < k + extent[k]!; q++) af[q] = 1;
      }
      for (let k = 0; k < n; k++) {
        if (!af[k]) continue;
        status[k] = inRange[k] ? KEEP : OUT_OF_RANGE;
        extent[k] = 0;
        if (inRange[k]) report.n_af_uncorrected++;
      }
    }
  }

  const outT: number[] = [];
  const outRr: number[] = [];
  const excludedT: number[] = [];
  for (let k = 0; k < n;) {
    const s = status[k]!;
    if (s === KEEP) {
      outT.push(t[k]!);
      outRr.push(rr[k]!);
    } else if (s === MERGED) {
      const len = extent[k]!;
      let sum = 0;
      for (let q = k; q < k + len; q++) sum += rr[q]!;
      outT.push(t[k + len - 1]!);
      outRr.push(sum);
      report.n_corrected += len;
      k += len;
      continue;
    } else if (s === SPLIT) {
      const parts = extent[k]!;
      const part = rr[k]! / parts;
      const start = t[k]! - rr[k]!;
      for (let q = 1; q <= parts; q++) {
        outT.push(q === parts ? t[k]! : start + q * part);
        outRr.push(part);
      }
      report.n_corrected++;
      const last = report.missed_beat_runs[report.missed_beat_runs.length - 1];
      const startS = start / 1000;
      if (last && k > 0 && status[k - 1] === SPLIT && contiguous[k]) {
        last.end_s = t[k]! / 1000;
        last.n_intervals++;
        last.n_missed += parts - 1;
      } else report.missed_beat_runs.push({ start_s: startS, end_s: t[k]! / 1000, n_intervals: 1, n_missed: parts - 1 });
    } else {
      excludedT.push(t[k]!);
      if (s === OUT_OF_RANGE) report.n_out_of_range++;
      else if (s === ECTOPIC) report.n_ectopic++;
      else report.n_artefact++;
    }
    k++;
  }
  report.n_excluded = report.n_out_of_range + report.n_ectopic + report.n_artefact;
  report.n_kept = n - report.n_excluded;
  return { series: { tMs: Float64Array.from(outT), rrMs: Float64Array.from(outRr) }, report, excludedTMs: Float64Array.from(excludedT) };
}
