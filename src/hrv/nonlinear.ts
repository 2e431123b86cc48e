/**
 * Nonlinear HRV measures: Poincaré SD1/SD2 from successive pairs inside contiguous runs; sample entropy
 * (m = 2, r = 0.2·SD) and detrended fluctuation analysis (α1 over 4–16 beats, α2 over 16–64) on the NN
 * intervals in order, as NeuroKit2, Kubios and pyHRV compute them (they concatenate the kept intervals).
 */
import { sampleSd } from './time-domain.js';
import { followsGap } from './segments.js';
import type { NonlinearMeasures, RrSeries } from './types.js';

/** Fewest successive pairs for SD1/SD2. */
export const MIN_POINCARE_PAIRS = 10;

/** Poincaré SD1 and SD2 (ms) from pairs (RR[i−1], RR[i]) that do not straddle a gap. */
export function poincare(series: RrSeries): { sd1: number | null; sd2: number | null } {
  const rr = series.rrMs;
  // Accumulate the spread across and along the identity line: (x₂ − x₁)/√2 and (x₂ + x₁)/√2.
  let n = 0;
  let sumD = 0;
  let sumD2 = 0;
  let sumS = 0;
  let sumS2 = 0;
  for (let i = 1; i < rr.length; i++) {
    if (followsGap(series, i)) continue;
    const d = (rr[i]! - rr[i - 1]!) / Math.SQRT2;
    const s = (rr[i]! + rr[i - 1]!) / Math.SQRT2;
    n++;
    sumD += d;
    sumD2 += d * d;
    sumS += s;
    sumS2 += s * s;
  }
  if (n < MIN_POINCARE_PAIRS) return { sd1: null, sd2: null };
  const varD = (sumD2 - (sumD * sumD) / n) / (n - 1);
  const varS = (sumS2 - (sumS * sumS) / n) / (n - 1);
  return { sd1: Math.sqrt(Math.max(0, varD)), sd2: Math.sqrt(Math.max(0, varS)) };
}

/**
 * Sample entropy (Richman & Moorman 2000): −ln(A/B), B = pairs of length-m templates within r
 * (Chebyshev), A = the same for m + 1, over the first N − m templates, self-matches excluded. Null when
 * no pair matches (undefined) or fewer than `minLength` values.
 */
export function sampleEntropy(x: ArrayLike<number>, m = 2, rFactor = 0.2, minLength = 50): number | null {
  const n = x.length;
  if (n < minLength) return null;
  const sd = sampleSd(x);
  if (sd === null || sd === 0) return null;
  const r = rFactor * sd;
  const v = Float64Array.from(x);
  const count = n - m;
  let b = 0;
  let a = 0;
  // Sort template starts by their first value so only neighbours within r on it are compared:
  // O(N·k) for k candidates instead of O(N²).
  const order = Array.from({ length: count }, (_, i) => i).sort((i, j) => v[i]! - v[j]!);
  for (let oi = 0; oi < count; oi++) {
    const i = order[oi]!;
    const xi = v[i]!;
    for (let oj = oi + 1; oj < count; oj++) {
      const j = order[oj]!;
      if (v[j]! - xi > r) break;
      let ok = true;
      for (let k = 1; k < m; k++) {
        if (Math.abs(v[i + k]! - v[j + k]!) > r) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      b++;
      if (Math.abs(v[i + m]! - v[j + m]!) <= r) a++;
    }
  }
  if (a === 0 || b === 0) return null;
  return -Math.log(a / b);
}

/**
 * DFA scaling exponent over window sizes `scales` (beats): profile y = Σ(x − x̄), windows of n beats
 * advancing by n/2, linear detrending per window, F(n) = √(mean squared residual), slope of log F on
 * log n. Null when the series is shorter than the largest scale plus one window step.
 */
export function dfaAlpha(x: ArrayLike<number>, scales: readonly number[]): number | null {
  const n = x.length;
  const maxScale = Math.max(...scales);
  if (n <= maxScale + Math.floor(maxScale / 2)) return null;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i]!;
  mean /= n;
  const y = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += x[i]! - mean;
    y[i] = acc;
  }
  const logS: number[] = [];
  const logF: number[] = [];
  for (const s of scales) {
    const step = Math.floor(s / 2);
    // Least squares against t = 0..s−1: the sums of t and t² are the same for every window.
    const st = (s * (s - 1)) / 2;
    const stt = ((s - 1) * s * (2 * s - 1)) / 6;
    const det = s * stt - st * st;
    let total = 0;
    let windows = 0;
    for (let start = 0; start < n - s; start += step) {
      let sy = 0;
      let sty = 0;
      let syy = 0;
      for (let t = 0; t < s; t++) {
        const v = y[start + t]!;
        sy += v;
        sty += t * v;
        syy += v * v;
      }
      const slope = (s * sty - st * sy) / det;
      const icept = (sy - slope * st) / s;
      // Residual sum of squares of the fitted line, from the sums above.
      const rss = syy - icept * sy - slope * sty;
      total += Math.max(0, rss) / s;
      windows++;
    }
    if (windows === 0) return null;
    const f = Math.sqrt(total / windows);
    if (!(f > 0)) return null;
    logS.push(Math.log2(s));
    logF.push(Math.log2(f));
  }
  const k = logS.length;
  const mx = logS.reduce((p, c) => p + c, 0) / k;
  const my = logF.reduce((p, c) => p + c, 0) / k;
  let num = 0;
  let den = 0;
  for (let i = 0; i < k; i++) {
    num += (logS[i]! - mx) * (logF[i]! - my);
    den += (logS[i]! - mx) ** 2;
  }
  return num / den;
}

/** Every window size from a to b beats, inclusive: the scales of a DFA exponent. */
export const dfaScales = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);
/** Window sizes of DFA α1 (4–16 beats) and α2 (16–64 beats). */
export const DFA_SCALES_ALPHA1 = dfaScales(4, 16);
export const DFA_SCALES_ALPHA2 = dfaScales(16, 64);

/** The nonlinear measures of an NN series; null where the series is too short for a measure. */
export function nonlinear(series: RrSeries): NonlinearMeasures {
  const { sd1, sd2 } = poincare(series);
  const rr = series.rrMs;
  return {
    sd1_ms: sd1,
    sd2_ms: sd2,
    sd1_sd2: sd1 !== null && sd2 !== null && sd2 > 0 ? sd1 / sd2 : null,
    sampen: sampleEntropy(rr),
    dfa_alpha1: dfaAlpha(rr, DFA_SCALES_ALPHA1),
    dfa_alpha2: dfaAlpha(rr, DFA_SCALES_ALPHA2),
  };
}
