/**
 * Beats in the browser: the `rr_batch` records' beats joined into one series, cleaned by src/hrv's cleanRr
 * (the same code the enclave runs) with every input beat marked kept, corrected or excluded, and the full
 * analysis of a selected window — measures, Poincaré pairs and ellipse, NN histogram, power spectrum — all
 * computed by src/hrv itself.
 */
import {
  BANDS_HZ,
  HISTOGRAM_BIN_MS,
  analyze,
  cleanRr,
  followsGap,
  nnHistogram,
  poincare,
  welchPsd,
  lombPsd,
  DEFAULT_PSD,
  type HrvMeasures,
  type Psd,
  type RrCleaningReport,
  type RrSeries,
} from '../hrv/index.js';
import type { RrBatchEntry } from './hrv-model.js';

/** Input beats of the batches, by time, with duplicates (a re-delivered batch) dropped. Times in epoch ms. */
export function joinBatches(batches: readonly RrBatchEntry[]): RrSeries {
  const t: number[] = [];
  const rr: number[] = [];
  const sorted = [...batches].sort((a, b) => (a.data.beats.t_ms[0] ?? 0) - (b.data.beats.t_ms[0] ?? 0));
  for (const b of sorted) {
    const bt = b.data.beats.t_ms;
    const brr = b.data.beats.rr_ms;
    for (let i = 0; i < bt.length; i++) {
      const ti = bt[i]!;
      if (t.length > 0 && ti <= t[t.length - 1]!) continue; // overlap or duplicate: keep the first copy
      t.push(ti);
      rr.push(brr[i]!);
    }
  }
  return { tMs: Float64Array.from(t), rrMs: Float64Array.from(rr) };
}

/** Beat status after cleaning. */
export const KEPT = 0;
export const CORRECTED = 1;
export const EXCLUDED = 2;

/** The input beats, what cleaning made of each, and the cleaned (NN) series. */
export interface CleanedBeats {
  input: RrSeries;
  /** Per input beat: KEPT, CORRECTED (merged or split) or EXCLUDED. */
  status: Uint8Array;
  /** The NN series cleanRr returned (corrected intervals included). */
  nn: RrSeries;
  report: RrCleaningReport;
}

/** Same interval (ms), up to float rounding of sums. */
const same = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a), Math.abs(b));
/** Same beat time (epoch ms): cleanRr copies times exactly, so a µs tolerance is ample. */
const sameT = (a: number, b: number) => Math.abs(a - b) <= 1e-3;

/**
 * Runs cleanRr and maps its output back onto the input beats. cleanRr keeps a beat's time for kept, merged
 * (at the last fragment) and split (at the original beat) intervals, so: an input beat present in the output
 * with its own interval is kept; present with another interval is corrected, together with the unmatched
 * fragments just before it whose intervals add up to the output's; any other missing input beat is excluded.
 */
export function cleanBeats(input: RrSeries): CleanedBeats {
  const n = input.tMs.length;
  const status = new Uint8Array(n);
  const { series: nn, report } = cleanRr(input);
  const ot = nn.tMs;
  const orr = nn.rrMs;
  let j = 0;
  let pendingFrom = -1; // first unmatched input beat of the current run
  for (let i = 0; i < n; i++) {
    const ti = input.tMs[i]!;
    while (j < ot.length && ot[j]! < ti && !sameT(ot[j]!, ti)) j++; // inserted beats of a split
    if (j < ot.length && sameT(ot[j]!, ti)) {
      if (same(orr[j]!, input.rrMs[i]!)) status[i] = KEPT;
      else {
        status[i] = CORRECTED;
        // Merged fragments: the unmatched beats just before this one whose intervals add up to the output's.
        if (pendingFrom >= 0) {
          let sum = input.rrMs[i]!;
          for (let q = i - 1; q >= pendingFrom; q--) {
            sum += input.rrMs[q]!;
            if (same(sum, orr[j]!)) {
              for (let r = q; r < i; r++) status[r] = CORRECTED;
              break;
            }
            if (sum > orr[j]!) break;
          }
        }
      }
      pendingFrom = -1;
      j++;
    } else {
      status[i] = EXCLUDED;
      if (pendingFrom < 0) pendingFrom = i;
    }
  }
  return { input, status, nn, report };
}

/** uPlot data for the tachogram: x (s), all RR (ms), NN after cleaning, excluded beats, corrected beats (null elsewhere). */
export type TachogramData = [number[], Array<number | null>, Array<number | null>, Array<number | null>, Array<number | null>];

/**
 * The tachogram's aligned series. x holds every input beat and every beat cleaning inserted (split missed
 * beats); the NN line breaks (null) where cleaning left a gap, so an excluded stretch is never drawn over.
 */
export function tachogramData(c: CleanedBeats): TachogramData {
  const { input, status, nn } = c;
  const x: number[] = [];
  const raw: Array<number | null> = [];
  const clean: Array<number | null> = [];
  const excl: Array<number | null> = [];
  const corr: Array<number | null> = [];
  let i = 0;
  let j = 0;
  const ni = input.tMs.length;
  const nj = nn.tMs.length;
  while (i < ni || j < nj) {
    const ti = i < ni ? input.tMs[i]! : Infinity;
    const tj = j < nj ? nn.tMs[j]! : Infinity;
    if (j < nj && (sameT(ti, tj) || tj < ti)) {
      const matched = sameT(ti, tj);
      // A gap in the NN series: break the line before this beat.
      if (j > 0 && followsGap(nn, j) && clean.length > 0 && clean[clean.length - 1] !== null) {
        x.push((tj - nn.rrMs[j]!) / 1000);
        raw.push(null);
        clean.push(null);
        excl.push(null);
        corr.push(null);
      }
      x.push(tj / 1000);
      raw.push(matched ? input.rrMs[i]! : null);
      clean.push(nn.rrMs[j]!);
      excl.push(null);
      corr.push(!matched || status[i] === CORRECTED ? nn.rrMs[j]! : null);
      if (matched) i++;
      j++;
    } else {
      x.push(ti / 1000);
      raw.push(input.rrMs[i]!);
      clean.push(null);
      excl.push(status[i] === EXCLUDED ? input.rrMs[i]! : null);
      corr.push(status[i] === CORRECTED ? input.rrMs[i]! : null);
      i++;
    }
  }
  // Break points may have landed before the previous x: keep x increasing for uPlot.
  for (let k = 1; k < x.length; k++) if (x[k]! <= x[k - 1]!) x[k] = x[k - 1]! + 1e-6;
  return [x, raw, clean, excl, corr];
}

/** The beats of `s` whose interval lies in [fromMs, toMs] (both its beats inside). */
export function sliceBeats(s: RrSeries, fromMs: number, toMs: number): RrSeries {
  let a = 0;
  while (a < s.tMs.length && s.tMs[a]! - s.rrMs[a]! < fromMs) a++;
  let b = a;
  while (b < s.tMs.length && s.tMs[b]! <= toMs) b++;
  return { tMs: s.tMs.subarray(a, b), rrMs: s.rrMs.subarray(a, b) };
}

/** Poincaré pairs (RRₙ, RRₙ₊₁) that do not straddle a gap, as uPlot scatter data sorted by x. */
export function poincarePairs(nn: RrSeries): { x: number[]; y: number[] } {
  const pairs: Array<[number, number]> = [];
  for (let i = 1; i < nn.rrMs.length; i++) if (!followsGap(nn, i)) pairs.push([nn.rrMs[i - 1]!, nn.rrMs[i]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  return { x: pairs.map((p) => p[0]), y: pairs.map((p) => p[1]) };
}

/** The SD1/SD2 ellipse: centred on the mean NN, axes along and across the identity line, as a closed polygon. */
export function poincareEllipse(
  meanNn: number,
  sd1: number,
  sd2: number,
  points = 72,
): { x: number[]; y: number[] } {
  const x: number[] = [];
  const y: number[] = [];
  for (let k = 0; k <= points; k++) {
    const a = (2 * Math.PI * k) / points;
    const along = sd2 * Math.cos(a);
    const across = sd1 * Math.sin(a);
    // Rotate by 45°: along (1, 1)/√2, across (−1, 1)/√2.
    x.push(meanNn + (along - across) / Math.SQRT2);
    y.push(meanNn + (along + across) / Math.SQRT2);
  }
  return { x, y };
}

/** Everything the window panel shows, from the beats of one window. */
export interface WindowAnalysis {
  fromMs: number;
  toMs: number;
  cleaned: CleanedBeats;
  measures: HrvMeasures;
  poincare: { x: number[]; y: number[]; sd1: number | null; sd2: number | null; meanNn: number | null };
  histogram: { binsMs: number[]; counts: number[]; binWidthMs: number };
  psd: Psd | null;
}

/** The spectral method of the measures: src/hrv's default, which the enclave uses too. */
export const PSD_METHOD_NAME = DEFAULT_PSD === 'lomb' ? 'Lomb–Scargle' : 'Welch';

/** Cleans and analyses the beats in [fromMs, toMs] with src/hrv; null when the window has no beats. */
export function analyzeWindow(all: RrSeries, fromMs: number, toMs: number): WindowAnalysis | null {
  const input = sliceBeats(all, fromMs, toMs);
  if (input.tMs.length === 0) return null;
  // Copies: src/hrv treats the series as its own.
  const cleaned = cleanBeats({ tMs: Float64Array.from(input.tMs), rrMs: Float64Array.from(input.rrMs) });
  const nn = cleaned.nn;
  const measures = analyze(nn);
  const pc = poincare(nn);
  const pairs = poincarePairs(nn);
  let histogram: WindowAnalysis['histogram'] = { binsMs: [], counts: [], binWidthMs: HISTOGRAM_BIN_MS };
  if (nn.rrMs.length > 0) {
    const h = nnHistogram(nn.rrMs);
    histogram = {
      binsMs: Array.from(h.counts, (_, k) => h.start + k * HISTOGRAM_BIN_MS),
      counts: Array.from(h.counts),
      binWidthMs: HISTOGRAM_BIN_MS,
    };
  }
  return {
    fromMs,
    toMs,
    cleaned,
    measures,
    poincare: { ...pairs, sd1: pc.sd1, sd2: pc.sd2, meanNn: measures.mean_nn_ms },
    histogram,
    // The spectrum of the method the measures (and the enclave) use, so the plot shows what the numbers are.
    psd: nn.rrMs.length >= 4 ? (DEFAULT_PSD === 'lomb' ? lombPsd(nn) : welchPsd(nn)) : null,
  };
}

/** The spectrum up to 0.5 Hz as chart data, with the band each bin belongs to. */
export function spectrumData(psd: Psd): { x: number[]; y: number[] } {
  const x: number[] = [];
  const y: number[] = [];
  for (let k = 0; k < psd.freqHz.length; k++) {
    const f = psd.freqHz[k]!;
    if (f > 0.5) break;
    x.push(f);
    y.push(psd.density[k]!);
  }
  return { x, y };
}

/** Frequency bands shaded on the spectrum. */
export const SPECTRUM_BANDS = [
  { id: 'vlf', label: 'VLF', range: BANDS_HZ.vlf, color: 'rgba(148, 163, 184, 0.25)' },
  { id: 'lf', label: 'LF', range: BANDS_HZ.lf, color: 'rgba(37, 99, 235, 0.18)' },
  { id: 'hf', label: 'HF', range: BANDS_HZ.hf, color: 'rgba(234, 88, 12, 0.18)' },
] as const;
