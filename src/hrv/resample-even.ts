/**
 * Irregular → even resampling for signals sampled at uneven times (camera frames arrive with jitter and
 * the occasional dropped frame). Linear interpolation, not a spline: frames only 1 ms apart happen in
 * real phone recordings, and a spline through such a pair overshoots wildly, while linear interpolation
 * cannot leave the range of its neighbours. The detector's band-pass filter afterwards removes the
 * corners linear interpolation leaves.
 */

/** An evenly sampled signal: sample k is at t0S + k / fsHz seconds. */
export interface EvenSignal {
  t0S: number;
  fsHz: number;
  values: Float64Array;
}

/** Median spacing of increasing times, s (robust to dropped frames). Needs at least 2 times. */
export function medianStep(tS: Float64Array): number {
  const d = new Float64Array(tS.length - 1);
  for (let i = 1; i < tS.length; i++) d[i - 1] = tS[i]! - tS[i - 1]!;
  d.sort();
  const m = d.length >> 1;
  return d.length % 2 === 1 ? d[m]! : (d[m - 1]! + d[m]!) / 2;
}

/**
 * Resamples (tS, values) onto an even grid at fsHz from tS[0] to the last input time. Times must be
 * increasing (the caller validates). When the input is denser than the grid, each input sample is first
 * replaced by the mean of the `ceil(input rate / fsHz)` samples around it: a box average has zeros at
 * multiples of its rate, exactly the frequencies that would alias into the low band we keep.
 */
export function resampleEven(tS: Float64Array, values: Float64Array, fsHz: number): EvenSignal {
  const n = tS.length;
  const t0S = tS[0]!;
  const inputHz = 1 / medianStep(tS);
  const box = Math.ceil(inputHz / fsHz - 1e-9);
  let src = values;
  if (box > 1) {
    src = new Float64Array(n);
    const before = (box - 1) >> 1;
    let sum = 0;
    let lo = 0;
    let hi = 0; // window is [lo, hi)
    for (let i = 0; i < n; i++) {
      const wantLo = Math.max(0, i - before);
      const wantHi = Math.min(n, wantLo + box);
      while (hi < wantHi) sum += values[hi++]!;
      while (lo < wantLo) sum -= values[lo++]!;
      src[i] = sum / (hi - lo);
    }
  }
  const count = Math.floor((tS[n - 1]! - t0S) * fsHz + 1e-9) + 1;
  const out = new Float64Array(count);
  let j = 0;
  for (let k = 0; k < count; k++) {
    const t = t0S + k / fsHz;
    while (j < n - 2 && tS[j + 1]! <= t) j++;
    const ta = tS[j]!;
    const tb = tS[j + 1] ?? ta;
    const a = src[j]!;
    const b = src[j + 1] ?? a;
    out[k] = tb > ta ? a + ((b - a) * (t - ta)) / (tb - ta) : a;
  }
  return { t0S, fsHz, values: out };
}
