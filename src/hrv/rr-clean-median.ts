/**
 * Centred running median for the RR cleaner's local reference. A sorted copy of the window is kept and
 * updated by binary search, so each step costs O(log w) comparisons plus an O(w) shift of a small typed
 * array (w ≈ 31–61), which in practice beats heap-based schemes at these window sizes.
 */

function lowerBound(sorted: Float64Array, len: number, x: number): number {
  let lo = 0;
  let hi = len;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Median of xs over the centred window [i − half, i + half] for every i (truncated at the ends), same
 * units as xs.
 */
export function runningMedian(xs: Float64Array, half: number): Float64Array {
  const n = xs.length;
  const out = new Float64Array(n);
  if (n === 0) return out;
  const h = Math.max(0, Math.floor(half));
  const sorted = new Float64Array(2 * h + 1);
  let len = 0;
  const insert = (x: number): void => {
    const at = lowerBound(sorted, len, x);
    sorted.copyWithin(at + 1, at, len);
    sorted[at] = x;
    len++;
  };
  const remove = (x: number): void => {
    const at = lowerBound(sorted, len, x);
    sorted.copyWithin(at, at + 1, len);
    len--;
  };
  for (let j = 0; j <= Math.min(h, n - 1); j++) insert(xs[j]!);
  for (let i = 0; i < n; i++) {
    out[i] = len % 2 === 1 ? sorted[len >> 1]! : (sorted[(len >> 1) - 1]! + sorted[len >> 1]!) / 2;
    const enter = i + h + 1;
    const leave = i - h;
    if (leave >= 0) remove(xs[leave]!);
    if (enter < n) insert(xs[enter]!);
  }
  return out;
}
