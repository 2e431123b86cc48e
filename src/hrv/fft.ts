/**
 * In-place iterative radix-2 FFT. Written here because it is the hot path of the frequency-domain
 * measures and no maintained pure-TypeScript FFT package is small, typed-array based and allocation-free.
 */

const twiddleCache = new Map<number, { cos: Float64Array; sin: Float64Array; rev: Uint32Array }>();

function tables(n: number): { cos: Float64Array; sin: Float64Array; rev: Uint32Array } {
  let t = twiddleCache.get(n);
  if (t) return t;
  const cos = new Float64Array(n / 2);
  const sin = new Float64Array(n / 2);
  for (let i = 0; i < n / 2; i++) {
    cos[i] = Math.cos((2 * Math.PI * i) / n);
    sin[i] = -Math.sin((2 * Math.PI * i) / n);
  }
  const bits = Math.log2(n);
  const rev = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let b = 0, x = i; b < bits; b++, x >>= 1) r = (r << 1) | (x & 1);
    rev[i] = r;
  }
  t = { cos, sin, rev };
  twiddleCache.set(n, t);
  return t;
}

/** True for 1, 2, 4, 8, …. */
export function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/** Smallest power of two ≥ n. */
export function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

/** Forward DFT X_k = Σ x_j·e^(−2πijk/n) of (re, im), in place; n must be a power of two. */
export function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  if (!isPowerOfTwo(n) || im.length !== n)
    throw new RangeError('fft: length must be a power of two and re/im equal');
  const { cos, sin, rev } = tables(n);
  for (let i = 0; i < n; i++) {
    const j = rev[i]!;
    if (j > i) {
      let t = re[i]!;
      re[i] = re[j]!;
      re[j] = t;
      t = im[i]!;
      im[i] = im[j]!;
      im[j] = t;
    }
  }
  for (let size = 2; size <= n; size <<= 1) {
    const half = size >> 1;
    const step = n / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k++) {
        const wr = cos[k * step]!;
        const wi = sin[k * step]!;
        const a = start + k;
        const b = a + half;
        const xr = re[b]! * wr - im[b]! * wi;
        const xi = re[b]! * wi + im[b]! * wr;
        re[b] = re[a]! - xr;
        im[b] = im[a]! - xi;
        re[a] = re[a]! + xr;
        im[a] = im[a]! + xi;
      }
    }
  }
}

const realScratch = new Map<
  number,
  { re: Float64Array; im: Float64Array; cos: Float64Array; sin: Float64Array }
>();

/**
 * DFT of a real signal x (length n, a power of two ≥ 2), bins 0 … n/2 written to outRe/outIm (length
 * ≥ n/2 + 1). Packs the even and odd samples into one complex FFT of half the length and untangles the
 * halves — half the work of a complex FFT with a zero imaginary part, which is what Welch needs.
 */
export function realFft(x: Float64Array, outRe: Float64Array, outIm: Float64Array): void {
  const n = x.length;
  if (!isPowerOfTwo(n) || n < 2) throw new RangeError('realFft: length must be a power of two ≥ 2');
  const m = n >> 1;
  if (outRe.length < m + 1 || outIm.length < m + 1)
    throw new RangeError('realFft: output shorter than n/2 + 1');
  let s = realScratch.get(m);
  if (!s) {
    s = {
      re: new Float64Array(m),
      im: new Float64Array(m),
      cos: new Float64Array(m + 1),
      sin: new Float64Array(m + 1),
    };
    for (let k = 0; k <= m; k++) {
      s.cos[k] = Math.cos((2 * Math.PI * k) / n);
      s.sin[k] = Math.sin((2 * Math.PI * k) / n);
    }
    realScratch.set(m, s);
  }
  const { re, im, cos, sin } = s;
  for (let j = 0; j < m; j++) {
    re[j] = x[2 * j]!;
    im[j] = x[2 * j + 1]!;
  }
  fft(re, im);
  for (let k = 0; k <= m; k++) {
    const zr = re[k % m]!;
    const zi = im[k % m]!;
    const wr = re[(m - k) % m]!;
    const wi = im[(m - k) % m]!;
    // Even-sample spectrum E = (Z_k + conj Z_{m−k})/2, odd-sample spectrum O = (Z_k − conj Z_{m−k})/(2i).
    const er = (zr + wr) / 2;
    const ei = (zi - wi) / 2;
    const or = (zi + wi) / 2;
    const oi = -(zr - wr) / 2;
    const c = cos[k]!;
    const sn = sin[k]!;
    outRe[k] = er + c * or + sn * oi;
    outIm[k] = ei + c * oi - sn * or;
  }
}
