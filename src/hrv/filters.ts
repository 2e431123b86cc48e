/**
 * DSP primitives for beat detection: Butterworth filters designed by the bilinear transform (with
 * pre-warping), applied as cascaded second-order sections, zero-phase forward–backward filtering, and
 * simple moving-average and derivative operators. Everything works on Float64Array and allocates only
 * its output.
 *
 * Filter coefficients use the common "SOS" layout: one row of six numbers per section,
 * [b0, b1, b2, a0, a1, a2] with a0 = 1, stored flat in a Float64Array (length 6 × sections).
 */
import { HrvError } from './errors.js';

/** Second-order sections, flat: 6 coefficients [b0, b1, b2, 1, a1, a2] per section. */
export type Sos = Float64Array;

interface Complex {
  re: number;
  im: number;
}

const cmul = (a: Complex, b: Complex): Complex => ({
  re: a.re * b.re - a.im * b.im,
  im: a.re * b.im + a.im * b.re,
});
const cdiv = (a: Complex, b: Complex): Complex => {
  const d = b.re * b.re + b.im * b.im;
  return { re: (a.re * b.re + a.im * b.im) / d, im: (a.im * b.re - a.re * b.im) / d };
};
const csqrt = (a: Complex): Complex => {
  const m = Math.hypot(a.re, a.im);
  const re = Math.sqrt((m + a.re) / 2);
  const im = Math.sqrt(Math.max(0, (m - a.re) / 2));
  return { re, im: a.im < 0 ? -im : im };
};

function checkOrder(order: number): void {
  if (!Number.isInteger(order) || order < 1 || order > 8) {
    throw new HrvError('HRV_ERR_INPUT', `filter order must be an integer from 1 to 8, got ${order}`);
  }
}

function checkCutoff(name: string, hz: number, fsHz: number): void {
  if (!Number.isFinite(fsHz) || fsHz <= 0) {
    throw new HrvError('HRV_ERR_SAMPLING_RATE', `sampling rate must be a positive number of Hz, got ${fsHz}`);
  }
  if (!Number.isFinite(hz) || hz <= 0 || hz >= fsHz / 2) {
    throw new HrvError(
      'HRV_ERR_INPUT',
      `${name} ${hz} Hz must lie strictly between 0 and fs/2 = ${fsHz / 2} Hz`,
    );
  }
}

/** Analog Butterworth prototype poles (cutoff 1 rad/s) in the upper half plane, plus the real pole for odd orders. */
function prototypePoles(order: number): Complex[] {
  const poles: Complex[] = [];
  for (let k = 0; k < Math.floor(order / 2); k++) {
    const theta = (Math.PI * (2 * k + 1 + order)) / (2 * order);
    poles.push({ re: Math.cos(theta), im: Math.abs(Math.sin(theta)) });
  }
  if (order % 2 === 1) poles.push({ re: -1, im: 0 });
  return poles;
}

/** Bilinear map of an analog pole s (rad/s) to the z plane for sampling rate fs: z = (2fs + s) / (2fs − s). */
function bilinear(s: Complex, fsHz: number): Complex {
  const k = 2 * fsHz;
  return cdiv({ re: k + s.re, im: s.im }, { re: k - s.re, im: -s.im });
}

/** Denominator [1, a1, a2] of a section with poles p and q (conjugates, or both real). */
function denominator(p: Complex, q: Complex): [number, number] {
  const prod = cmul(p, q);
  return [-(p.re + q.re), prod.re];
}

/** |H(e^{jω})| of the cascade at normalised angular frequency ω (rad/sample). */
function sosMagnitude(sos: Sos, omega: number): number {
  const c1 = Math.cos(omega);
  const s1 = -Math.sin(omega);
  const c2 = Math.cos(2 * omega);
  const s2 = -Math.sin(2 * omega);
  let mag = 1;
  for (let i = 0; i < sos.length; i += 6) {
    const nre = sos[i]! + sos[i + 1]! * c1 + sos[i + 2]! * c2;
    const nim = sos[i + 1]! * s1 + sos[i + 2]! * s2;
    const dre = sos[i + 3]! + sos[i + 4]! * c1 + sos[i + 5]! * c2;
    const dim = sos[i + 4]! * s1 + sos[i + 5]! * s2;
    mag *= Math.hypot(nre, nim) / Math.hypot(dre, dim);
  }
  return mag;
}

/** Scales the first section's numerator so the cascade has unit gain at ω (rad/sample). */
function normalise(sos: Sos, omega: number): Sos {
  const g = sosMagnitude(sos, omega);
  sos[0]! /= g;
  sos[1]! /= g;
  sos[2]! /= g;
  return sos;
}

/** Butterworth low-pass of the given order with −3 dB at cutoffHz, as second-order sections. */
export function butterLowpass(cutoffHz: number, fsHz: number, order = 2): Sos {
  checkOrder(order);
  checkCutoff('low-pass cutoff', cutoffHz, fsHz);
  const wc = 2 * fsHz * Math.tan((Math.PI * cutoffHz) / fsHz);
  const sos: number[] = [];
  for (const p of prototypePoles(order)) {
    const z = bilinear({ re: wc * p.re, im: wc * p.im }, fsHz);
    if (p.im === 0) sos.push(1, 1, 0, 1, -z.re, 0);
    else sos.push(1, 2, 1, 1, ...denominator(z, { re: z.re, im: -z.im }));
  }
  return normalise(Float64Array.from(sos), 0);
}

/** Butterworth high-pass of the given order with −3 dB at cutoffHz, as second-order sections. */
export function butterHighpass(cutoffHz: number, fsHz: number, order = 2): Sos {
  checkOrder(order);
  checkCutoff('high-pass cutoff', cutoffHz, fsHz);
  const wc = 2 * fsHz * Math.tan((Math.PI * cutoffHz) / fsHz);
  const sos: number[] = [];
  for (const p of prototypePoles(order)) {
    // Low-pass to high-pass: s → wc / s, so a prototype pole p becomes wc / p.
    const s = cdiv({ re: wc, im: 0 }, p);
    const z = bilinear(s, fsHz);
    if (p.im === 0) sos.push(1, -1, 0, 1, -z.re, 0);
    else sos.push(1, -2, 1, 1, ...denominator(z, { re: z.re, im: -z.im }));
  }
  return normalise(Float64Array.from(sos), Math.PI);
}

/** Butterworth band-pass; `order` is the prototype order, so the filter has `order` sections and 2·order poles. */
export function butterBandpass(lowHz: number, highHz: number, fsHz: number, order = 2): Sos {
  checkOrder(order);
  checkCutoff('band-pass low edge', lowHz, fsHz);
  checkCutoff('band-pass high edge', highHz, fsHz);
  if (lowHz >= highHz) {
    throw new HrvError(
      'HRV_ERR_INPUT',
      `band-pass low edge ${lowHz} Hz must be below the high edge ${highHz} Hz`,
    );
  }
  const w1 = 2 * fsHz * Math.tan((Math.PI * lowHz) / fsHz);
  const w2 = 2 * fsHz * Math.tan((Math.PI * highHz) / fsHz);
  const bw = w2 - w1;
  const w0sq = w1 * w2;
  const sos: number[] = [];
  for (const p of prototypePoles(order)) {
    // Low-pass to band-pass: s → (s² + w0²) / (s·bw); each prototype pole gives the roots of
    // s² − p·bw·s + w0² = 0.
    const half: Complex = { re: (p.re * bw) / 2, im: (p.im * bw) / 2 };
    const disc = csqrt({ re: half.re * half.re - half.im * half.im - w0sq, im: 2 * half.re * half.im });
    const s1 = bilinear({ re: half.re + disc.re, im: half.im + disc.im }, fsHz);
    const s2 = bilinear({ re: half.re - disc.re, im: half.im - disc.im }, fsHz);
    if (p.im === 0) {
      // The real prototype pole gives one pair: conjugates, or two real poles for very wide bands.
      sos.push(1, 0, -1, 1, ...denominator(s1, s2));
    } else {
      sos.push(1, 0, -1, 1, ...denominator(s1, { re: s1.re, im: -s1.im }));
      sos.push(1, 0, -1, 1, ...denominator(s2, { re: s2.re, im: -s2.im }));
    }
  }
  // Unit gain at the geometric centre of the pre-warped band.
  const omega0 = 2 * Math.atan(Math.sqrt(w0sq) / (2 * fsHz));
  return normalise(Float64Array.from(sos), omega0);
}

/**
 * Second-order notch (band-stop) at centreHz with quality factor q (centre / −3 dB width; default 30,
 * a 2 Hz wide notch at 60 Hz), for mains interference: gain 0 at the centre, 1 at DC and Nyquist.
 */
export function notchFilter(centreHz: number, fsHz: number, q = 30): Sos {
  checkCutoff('notch centre', centreHz, fsHz);
  if (!(q > 0)) throw new HrvError('HRV_ERR_INPUT', `notch quality factor must be positive, got ${q}`);
  const w0 = (2 * Math.PI * centreHz) / fsHz;
  const alpha = Math.sin(w0) / (2 * q);
  const a0 = 1 + alpha;
  const c = -2 * Math.cos(w0);
  return Float64Array.from([1 / a0, c / a0, 1 / a0, 1, c / a0, (1 - alpha) / a0]);
}

/** Gain of the cascade at frequency hz for sampling rate fsHz (linear, not dB). */
export function sosGain(sos: Sos, hz: number, fsHz: number): number {
  return sosMagnitude(sos, (2 * Math.PI * hz) / fsHz);
}

/** One section over x in place, forwards or backwards, from state (z1, z2). */
function biquadRun(sos: Sos, j: number, x: Float64Array, z1: number, z2: number, backwards: boolean): void {
  const b0 = sos[j]!;
  const b1 = sos[j + 1]!;
  const b2 = sos[j + 2]!;
  const a1 = sos[j + 4]!;
  const a2 = sos[j + 5]!;
  const n = x.length;
  const step = backwards ? -1 : 1;
  for (let i = backwards ? n - 1 : 0, k = 0; k < n; k++, i += step) {
    const xi = x[i]!;
    const y = b0 * xi + z1;
    z1 = b1 * xi - a1 * y + z2;
    z2 = b2 * xi - a2 * y;
    x[i] = y;
  }
}

/** Two consecutive sections in one sweep: their recursions are independent chains the CPU overlaps. */
function biquadPairRun(sos: Sos, j: number, x: Float64Array, z: Float64Array, backwards: boolean): void {
  const b0 = sos[j]!;
  const b1 = sos[j + 1]!;
  const b2 = sos[j + 2]!;
  const a1 = sos[j + 4]!;
  const a2 = sos[j + 5]!;
  const c0 = sos[j + 6]!;
  const c1 = sos[j + 7]!;
  const c2 = sos[j + 8]!;
  const d1 = sos[j + 10]!;
  const d2 = sos[j + 11]!;
  let z1 = z[0]!;
  let z2 = z[1]!;
  let w1 = z[2]!;
  let w2 = z[3]!;
  const n = x.length;
  const step = backwards ? -1 : 1;
  for (let i = backwards ? n - 1 : 0, k = 0; k < n; k++, i += step) {
    const xi = x[i]!;
    const y = b0 * xi + z1;
    z1 = b1 * xi - a1 * y + z2;
    z2 = b2 * xi - a2 * y;
    const u = c0 * y + w1;
    w1 = c1 * y - d1 * u + w2;
    w2 = c2 * y - d2 * u;
    x[i] = u;
  }
}

/**
 * Runs the cascade over x in place (direct form II transposed), forwards or backwards, from state
 * zi · (first input value) (2 numbers per section) or from zero.
 */
function sosRun(sos: Sos, x: Float64Array, zi: Float64Array | null, backwards: boolean): void {
  // The steady state refers to the cascade's input, so take its first value before any section runs.
  const scale = backwards ? x[x.length - 1]! : x[0]!;
  const ns = sos.length / 6;
  const z = new Float64Array(4);
  let s = 0;
  for (; s + 1 < ns; s += 2) {
    for (let k = 0; k < 4; k++) z[k] = zi ? zi[2 * s + k]! * scale : 0;
    biquadPairRun(sos, 6 * s, x, z, backwards);
  }
  if (s < ns)
    biquadRun(sos, 6 * s, x, zi ? zi[2 * s]! * scale : 0, zi ? zi[2 * s + 1]! * scale : 0, backwards);
}

/**
 * Initial state of each section for which a constant input of 1 produces its steady-state output, so
 * forward–backward filtering starts without a step transient.
 */
function steadyState(sos: Sos): Float64Array {
  const ns = sos.length / 6;
  const zi = new Float64Array(2 * ns);
  let level = 1; // the constant arriving at this section
  for (let s = 0; s < ns; s++) {
    const j = 6 * s;
    const b0 = sos[j]!;
    const b1 = sos[j + 1]!;
    const b2 = sos[j + 2]!;
    const a1 = sos[j + 4]!;
    const a2 = sos[j + 5]!;
    const g = (b0 + b1 + b2) / (1 + a1 + a2);
    const out = level * g;
    zi[2 * s + 1] = b2 * level - a2 * out;
    zi[2 * s] = out - b0 * level;
    level = out;
  }
  return zi;
}

/** Causal filtering through the cascade (zero initial state); returns a new array. */
export function sosFilter(sos: Sos, x: Float64Array): Float64Array {
  const y = Float64Array.from(x);
  sosRun(sos, y, null, false);
  return y;
}

/**
 * Zero-phase filtering: forward then backward through the cascade, so peaks keep their position and the
 * magnitude response is squared. The ends are extended by odd reflection and the state starts at steady
 * state, as scipy's filtfilt does, so there is no start-up transient. Needs at least 2 samples.
 */
export function filtfilt(sos: Sos, x: Float64Array, padLen?: number): Float64Array {
  const n = x.length;
  if (n < 2)
    throw new HrvError('HRV_ERR_TOO_SHORT', `zero-phase filtering needs at least 2 samples, got ${n}`);
  const pad = Math.min(n - 1, padLen ?? defaultPad(sos));
  const buf = padded(x, pad);
  const zi = steadyState(sos);
  sosRun(sos, buf, zi, false);
  sosRun(sos, buf, zi, true);
  return buf.slice(pad, pad + n);
}

/** filtfilt's default padding: 3 × the cascade's filter length, not counting first-order sections' empty taps. */
function defaultPad(sos: Sos): number {
  let firstOrder = 0;
  for (let j = 0; j < sos.length; j += 6) if (sos[j + 2] === 0 && sos[j + 5] === 0) firstOrder++;
  return 3 * (2 * (sos.length / 6) + 1 - firstOrder);
}

/** x extended by `pad` samples of odd reflection at each end (pad < x.length). */
function padded(x: Float64Array, pad: number): Float64Array {
  const n = x.length;
  const buf = new Float64Array(n + 2 * pad);
  const first = x[0]!;
  const last = x[n - 1]!;
  for (let i = 0; i < pad; i++) buf[i] = 2 * first - x[pad - i]!;
  buf.set(x, pad);
  for (let i = 0; i < pad; i++) buf[pad + n + i] = 2 * last - x[n - 2 - i]!;
  return buf;
}

/**
 * Whether sos is a band-pass of prototype order 2 as butterBandpass designs it: two sections with
 * numerators [b0, 0, −b0] and [1, 0, −1]. Such a section needs two multiplications instead of five, with
 * results identical to the general recursion (products with 0, 1 and −1 are exact).
 */
function isBandpass2(sos: Sos): boolean {
  return sos.length === 12 && sos[1] === 0 && sos[2] === -sos[0]! && sos[6] === 1 && sos[7] === 0 && sos[8] === -1;
}

/**
 * Two 2-section band-pass cascades (see isBandpass2), A over srcA and B over srcB, in one sweep: count
 * samples from index `from`, stepping by `step`; A's output goes to dstA[i + shiftA], B's to dstB[i + shiftB].
 * z holds the 8 state values (A's then B's, z1 and z2 per section) and is updated. Per sample and section
 * this is exactly the recursion y = b0·x + z1, z1 = b1·x − a1·y + z2, z2 = b2·x − a2·y of sosRun with
 * b1 = 0 and b2 = −b0; the two cascades are independent chains the CPU runs side by side. Each sample of
 * both sources is read before either output is written, so a destination may be a source.
 */
function bandpass2PairRun(
  sosA: Sos,
  sosB: Sos,
  srcA: Float64Array,
  srcB: Float64Array,
  dstA: Float64Array,
  dstB: Float64Array,
  from: number,
  count: number,
  step: number,
  shiftA: number,
  shiftB: number,
  z: Float64Array,
): void {
  const gA = sosA[0]!;
  const a11 = sosA[4]!;
  const a12 = sosA[5]!;
  const a21 = sosA[10]!;
  const a22 = sosA[11]!;
  const gB = sosB[0]!;
  const b11 = sosB[4]!;
  const b12 = sosB[5]!;
  const b21 = sosB[10]!;
  const b22 = sosB[11]!;
  let p1 = z[0]!;
  let q1 = z[1]!;
  let p2 = z[2]!;
  let q2 = z[3]!;
  let r1 = z[4]!;
  let s1 = z[5]!;
  let r2 = z[6]!;
  let s2 = z[7]!;
  for (let k = 0, i = from; k < count; k++, i += step) {
    const bxA = gA * srcA[i]!;
    const bxB = gB * srcB[i]!;
    const yA1 = bxA + p1;
    p1 = q1 - a11 * yA1;
    q1 = -bxA - a12 * yA1;
    const yA2 = yA1 + p2;
    p2 = q2 - a21 * yA2;
    q2 = -yA1 - a22 * yA2;
    const yB1 = bxB + r1;
    r1 = s1 - b11 * yB1;
    s1 = -bxB - b12 * yB1;
    const yB2 = yB1 + r2;
    r2 = s2 - b21 * yB2;
    s2 = -yB1 - b22 * yB2;
    dstA[i + shiftA] = yA2;
    dstB[i + shiftB] = yB2;
  }
  z[0] = p1;
  z[1] = q1;
  z[2] = p2;
  z[3] = q2;
  z[4] = r1;
  z[5] = s1;
  z[6] = r2;
  z[7] = s2;
}

/**
 * The same numbers as [filtfilt(sosA, x), filtfilt(sosB, x)] (default padding), computed together when both
 * are order-2 band-passes from butterBandpass: one forward and one backward sweep instead of four, and two
 * full-length arrays instead of four. Both results are views (subarrays of length x.length) into the padded
 * buffers the filtering ran in.
 */
export function filtfiltPair(sosA: Sos, sosB: Sos, x: Float64Array): [Float64Array, Float64Array] {
  const n = x.length;
  if (!isBandpass2(sosA) || !isBandpass2(sosB) || n < 2) return [filtfilt(sosA, x), filtfilt(sosB, x)];
  const pad = Math.min(n - 1, defaultPad(sosA));
  const m = n + 2 * pad;
  const a = new Float64Array(m);
  const b = new Float64Array(m);
  const ziA = steadyState(sosA);
  const ziB = steadyState(sosB);
  const z = new Float64Array(8);
  // Forwards over the padded input (odd reflection at both ends, as filtfilt), read in three parts so the
  // padded copy of x is never built.
  const head = new Float64Array(pad);
  const tail = new Float64Array(pad);
  const first = x[0]!;
  const last = x[n - 1]!;
  for (let i = 0; i < pad; i++) {
    head[i] = 2 * first - x[pad - i]!;
    tail[i] = 2 * last - x[n - 2 - i]!;
  }
  const start = pad > 0 ? head[0]! : first;
  for (let k = 0; k < 4; k++) {
    z[k] = ziA[k]! * start;
    z[4 + k] = ziB[k]! * start;
  }
  bandpass2PairRun(sosA, sosB, head, head, a, b, 0, pad, 1, 0, 0, z);
  bandpass2PairRun(sosA, sosB, x, x, a, b, 0, n, 1, pad, pad, z);
  bandpass2PairRun(sosA, sosB, tail, tail, a, b, 0, pad, 1, pad + n, pad + n, z);
  // Backwards in place; the start padding, which no output depends on, is not computed.
  const lastA = a[m - 1]!;
  const lastB = b[m - 1]!;
  for (let k = 0; k < 4; k++) {
    z[k] = ziA[k]! * lastA;
    z[4 + k] = ziB[k]! * lastB;
  }
  bandpass2PairRun(sosA, sosB, a, b, a, b, m - 1, n + pad, -1, 0, 0, z);
  return [a.subarray(pad, pad + n), b.subarray(pad, pad + n)];
}

/**
 * Moving average over `width` samples. Centred (the default) keeps features in place: output i averages
 * x[i − ⌊(w−1)/2⌋ … i + ⌈(w−1)/2⌉], with the window shrunk at the ends. Trailing averages x[i − w + 1 … i].
 */
export function movingAverage(x: Float64Array, width: number, centred = true): Float64Array {
  return movingAverageInto(x, width, new Float64Array(x.length), centred);
}

/** movingAverage written into `out` (at least x.length long, not x itself); returns out. */
export function movingAverageInto(x: Float64Array, width: number, out: Float64Array, centred = true): Float64Array {
  checkWidth(width);
  const n = x.length;
  const before = centred ? Math.floor((width - 1) / 2) : width - 1;
  const after = width - 1 - before;
  // Running sum over [i − before, i + after] clipped to the signal; one add and one subtract per sample.
  let sum = 0;
  for (let k = 0; k < Math.min(n, after); k++) sum += x[k]!;
  const inv = 1 / width;
  for (let i = 0; i < n; i++) {
    const hi = i + after;
    const lo = i - before - 1;
    if (hi < n && lo >= 0) {
      sum += x[hi]! - x[lo]!;
      out[i] = sum * inv;
      continue;
    }
    if (hi < n) sum += x[hi]!;
    if (lo >= 0) sum -= x[lo]!;
    out[i] = sum / (Math.min(n - 1, hi) - Math.max(0, lo + 1) + 1);
  }
  return out;
}

/**
 * movingAverage (centred) in place: x becomes its moving average, the same numbers, without a second
 * full-length array (the few input values still needed behind the write position are kept in a ring).
 */
export function movingAverageInPlace(x: Float64Array, width: number): Float64Array {
  checkWidth(width);
  const n = x.length;
  const before = Math.floor((width - 1) / 2);
  const after = width - 1 - before;
  // ring[slot] holds the original x[i − before − 1] when step i reads it, and takes x[i] in its place.
  const ring = new Float64Array(before + 1);
  let slot = 0;
  let sum = 0;
  for (let k = 0; k < Math.min(n, after); k++) sum += x[k]!;
  const inv = 1 / width;
  for (let i = 0; i < n; i++) {
    const hi = i + after;
    const lo = i - before - 1;
    const old = ring[slot]!;
    ring[slot] = x[i]!;
    if (++slot > before) slot = 0;
    if (hi < n && lo >= 0) {
      sum += x[hi]! - old;
      x[i] = sum * inv;
      continue;
    }
    if (hi < n) sum += x[hi]!;
    if (lo >= 0) sum -= old;
    x[i] = sum / (Math.min(n - 1, hi) - Math.max(0, lo + 1) + 1);
  }
  return x;
}

function checkWidth(width: number): void {
  if (!Number.isInteger(width) || width < 1) {
    throw new HrvError(
      'HRV_ERR_INPUT',
      `moving-average width must be a positive integer of samples, got ${width}`,
    );
  }
}

/**
 * Centred moving average of x² over `width` samples: the same numbers as movingAverage of an array holding
 * each x[i] · x[i], without that array.
 */
export function movingMeanSquare(x: Float64Array, width: number): Float64Array {
  checkWidth(width);
  const n = x.length;
  const out = new Float64Array(n);
  const before = Math.floor((width - 1) / 2);
  const after = width - 1 - before;
  let sum = 0;
  for (let k = 0; k < Math.min(n, after); k++) sum += x[k]! * x[k]!;
  const inv = 1 / width;
  for (let i = 0; i < n; i++) {
    const hi = i + after;
    const lo = i - before - 1;
    if (hi < n && lo >= 0) {
      sum += x[hi]! * x[hi]! - x[lo]! * x[lo]!;
      out[i] = sum * inv;
      continue;
    }
    if (hi < n) sum += x[hi]! * x[hi]!;
    if (lo >= 0) sum -= x[lo]! * x[lo]!;
    out[i] = sum / (Math.min(n - 1, hi) - Math.max(0, lo + 1) + 1);
  }
  return out;
}

/** Central-difference derivative in units of x per second: (x[i+1] − x[i−1]) · fs / 2; one-sided at the ends. */
export function derivative(x: Float64Array, fsHz: number): Float64Array {
  const n = x.length;
  const out = new Float64Array(n);
  if (n < 2) return out;
  for (let i = 1; i < n - 1; i++) out[i] = (x[i + 1]! - x[i - 1]!) * (fsHz / 2);
  out[0] = (x[1]! - x[0]!) * fsHz;
  out[n - 1] = (x[n - 1]! - x[n - 2]!) * fsHz;
  return out;
}
