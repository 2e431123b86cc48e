/**
 * Windowed analysis: window k covers [k·S, k·S + W) seconds of the input's time axis (aligned at 0), and
 * an interval belongs to a window when both its beats lie in it. `windowS` 0 means one window over the
 * whole input.
 */
import { HrvError } from './errors.js';
import { DEFAULT_PSD, frequencyDomain } from './frequency.js';
import { nonlinear } from './nonlinear.js';
import { timeDomain } from './time-domain.js';
import type { HrvMeasures, PsdMethod, RrSeries, WindowResult } from './types.js';

/**
 * Most windows one analysis produces: a day at a 1-s step is 86 400. Beyond it the options or the time axis
 * are wrong (a 1e-9 s window, beat times 3 years from 0) and the loop would run for hours.
 */
export const MAX_WINDOWS = 100_000;

export interface WindowOptions {
  /** Window length, s (0: the whole input as one window). */
  windowS: number;
  /** Step between window starts, s (default: the window length). */
  stepS?: number;
  psd?: PsdMethod;
}

/** A window's measures, and whether the data cover it. */
export interface AnalysedWindow extends WindowResult {
  /** True when the data cover less than PARTIAL_COVERAGE of the window (it starts before the first or ends after the last beat). */
  partial: boolean;
  /** Time of the window covered by the input, s (from the first interval's start to the last beat, clipped to the window). */
  covered_s: number;
}

/** Share of a window the data must cover for it to count as full. */
export const PARTIAL_COVERAGE = 0.9;

/** The full measure set (time, frequency, nonlinear) of one NN series; `psd` defaults to Lomb–Scargle. */
export function analyze(series: RrSeries, psd: PsdMethod = DEFAULT_PSD): HrvMeasures {
  return { ...timeDomain(series), ...frequencyDomain(series, psd), ...nonlinear(series) };
}

/** Indices [a, b) of the intervals whose start and end lie in [startMs, endMs); starts and ends both increase. */
function intervalRange(series: RrSeries, startMs: number, endMs: number, from: number): [number, number] {
  const n = series.tMs.length;
  let a = from;
  while (a < n && series.tMs[a]! - series.rrMs[a]! < startMs) a++;
  let b = a;
  while (b < n && series.tMs[b]! < endMs) b++;
  return [a, b];
}

/** Measures of every window of the series (see the module comment for the alignment rule). */
export function analyzeWindows(series: RrSeries, options: WindowOptions): AnalysedWindow[] {
  const { windowS } = options;
  const stepS = options.stepS ?? windowS;
  const psd = options.psd ?? DEFAULT_PSD;
  if (!(windowS >= 0) || !Number.isFinite(windowS)) throw new HrvError('HRV_ERR_INPUT', `window length must be ≥ 0 s, got ${windowS}`);
  const n = series.rrMs.length;
  if (n === 0) throw new HrvError('HRV_ERR_TOO_SHORT', 'no intervals to analyse');
  if (windowS === 0) {
    return [
      {
        start_s: (series.tMs[0]! - series.rrMs[0]!) / 1000,
        end_s: series.tMs[n - 1]! / 1000,
        n_nn: n,
        ...analyze(series, psd),
        partial: false,
        covered_s: (series.tMs[n - 1]! - series.tMs[0]! + series.rrMs[0]!) / 1000,
      },
    ];
  }
  if (!(stepS > 0) || !Number.isFinite(stepS)) throw new HrvError('HRV_ERR_INPUT', `window step must be > 0 s, got ${stepS}`);
  const lastMs = series.tMs[n - 1]!;
  const count = Math.ceil(lastMs / (stepS * 1000));
  if (count > MAX_WINDOWS) {
    throw new HrvError(
      'HRV_ERR_INPUT',
      `${count.toExponential(2)} windows of ${windowS} s every ${stepS} s up to the last beat at ${(lastMs / 1000).toFixed(0)} s: more than ${MAX_WINDOWS}; use a longer --step-s or --window-s 0`,
    );
  }
  const out: AnalysedWindow[] = [];
  const firstMs = series.tMs[0]! - series.rrMs[0]!;
  let from = 0;
  for (let k = 0; k * stepS * 1000 < lastMs; k++) {
    const startMs = k * stepS * 1000;
    const endMs = startMs + windowS * 1000;
    const [a, b] = intervalRange(series, startMs, endMs, from);
    from = a;
    const sub = { tMs: series.tMs.subarray(a, b), rrMs: series.rrMs.subarray(a, b) };
    const coveredMs = Math.max(0, Math.min(endMs, lastMs) - Math.max(startMs, firstMs));
    out.push({
      start_s: startMs / 1000,
      end_s: endMs / 1000,
      n_nn: b - a,
      ...analyze(sub, psd),
      partial: coveredMs < PARTIAL_COVERAGE * windowS * 1000,
      covered_s: coveredMs / 1000,
    });
  }
  return out;
}
