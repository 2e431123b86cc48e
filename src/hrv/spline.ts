/**
 * Natural cubic spline through (x, y), evaluated on an even grid: the usual way to resample an RR
 * series before Welch (Kubios does the same at 4 Hz). Linear interpolation would attenuate the HF band:
 * at one beat per 0.8 s it loses about 12% of the power of a 0.25 Hz oscillation.
 */

/** Values of the natural cubic spline through (x, y) at x0, x0 + step, … up to x[n − 1]. */
export function splineResample(x: ArrayLike<number>, y: ArrayLike<number>, x0: number, step: number): Float64Array {
  const n = x.length;
  if (n < 2) return new Float64Array(0);
  // Second derivatives by the tridiagonal (Thomas) algorithm with natural end conditions.
  const m = new Float64Array(n);
  const c = new Float64Array(n);
  const d = new Float64Array(n);
  for (let i = 1; i < n - 1; i++) {
    const h0 = x[i]! - x[i - 1]!;
    const h1 = x[i + 1]! - x[i]!;
    const a = h0 / 6;
    const b = (h0 + h1) / 3;
    const cc = h1 / 6;
    const r = (y[i + 1]! - y[i]!) / h1 - (y[i]! - y[i - 1]!) / h0;
    const denom = b - a * c[i - 1]!;
    c[i] = cc / denom;
    d[i] = (r - a * d[i - 1]!) / denom;
  }
  for (let i = n - 2; i >= 1; i--) m[i] = d[i]! - c[i]! * m[i + 1]!;
  const count = Math.floor((x[n - 1]! - x0) / step + 1e-9) + 1;
  const out = new Float64Array(Math.max(0, count));
  let seg = 0;
  for (let k = 0; k < out.length; k++) {
    const t = x0 + k * step;
    while (seg < n - 2 && t > x[seg + 1]!) seg++;
    const h = x[seg + 1]! - x[seg]!;
    const a = (x[seg + 1]! - t) / h;
    const b = (t - x[seg]!) / h;
    out[k] = a * y[seg]! + b * y[seg + 1]! + (((a * a * a - a) * m[seg]! + (b * b * b - b) * m[seg + 1]!) * h * h) / 6;
  }
  return out;
}
