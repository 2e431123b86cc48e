/** The small statistics a benchmark point needs: mean, percentiles, a trend, and the stability rule. */

/** Arithmetic mean; NaN for an empty list. */
export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((s, x) => s + x, 0) / xs.length;
}

/** The p-th percentile (0–100) by linear interpolation between closest ranks; NaN for an empty list. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (Math.min(100, Math.max(0, p)) / 100) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** Least-squares slope of `ys` against their index (units of y per step); 0 for fewer than two points. */
export function slope(ys: readonly number[]): number {
  const n = ys.length;
  if (n < 2) return 0;
  const mx = (n - 1) / 2;
  const my = mean(ys);
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (i - mx) * (ys[i]! - my);
    den += (i - mx) ** 2;
  }
  return num / den;
}

/**
 * A backlog grows when the files left waiting at the end of each micro-batch rise by more than 5% of one interval's
 * arrivals (at least one file) per batch: a server that keeps up leaves about the same few behind every time.
 */
export function backlogGrows(backlogEnd: readonly number[], filesPerInterval: number): boolean {
  return slope(backlogEnd) > Math.max(1, 0.05 * filesPerInterval);
}

/** The original study's rule, plus the backlog: mean processing time below the batch interval and no growing backlog. */
export function isStable(batchMsMean: number, batchIntervalMs: number, growing: boolean): boolean {
  return Number.isFinite(batchMsMean) && batchMsMean < batchIntervalMs && !growing;
}

/** Rounds to `d` decimals (JSON and tables); NaN becomes null. */
export function round(x: number, d = 1): number | null {
  if (!Number.isFinite(x)) return null;
  const f = 10 ** d;
  return Math.round(x * f) / f;
}
