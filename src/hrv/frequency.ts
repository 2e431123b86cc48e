/**
 * Frequency-domain HRV: band powers (ms²) of the NN series by Welch's method on an evenly resampled
 * series or by Lomb–Scargle on the uneven one. What exactly is computed, and why it differs from other
 * tools, is in docs/frequency-domain.md.
 *
 * Welch: the NN series is split at gaps; runs separated by a short gap (≤ 3 s missing, e.g. one excluded
 * ectopic beat) are joined while bridged time stays ≤ 10% of the joined stretch — longer gaps and frequent
 * ectopy are never interpolated over. Each stretch is resampled at 4 Hz by a natural cubic spline and cut
 * into Hann-windowed segments of L seconds with 50% overlap, each linearly detrended; the one-sided PSD of
 * all segments is averaged and scaled to ms²/Hz. L is as long as possible (at most 600 s) while the
 * stretches at least L long still hold half the recorded time. Lomb–Scargle: segments of the uneven beat
 * times (gaps need no bridging), linearly detrended, PSD scaled so that its integral is the variance, up
 * to half the mean beat rate.
 *
 * A band is reported only when a segment spans at least one period of the band's lowest frequency
 * (VLF ≥ 303 s, LF ≥ 25 s, HF ≥ 6.7 s); otherwise it is null, never a guess.
 */
import { nextPowerOfTwo, realFft } from './fft.js';
import { contiguousRuns } from './segments.js';
import { splineResample } from './spline.js';
import { BANDS_HZ, type FrequencyDomainMeasures, type PsdMethod, type RrSeries } from './types.js';

/** Resampling rate of the Welch method, Hz. */
export const RESAMPLE_HZ = 4;
/** Longest Welch/Lomb segment, s: two periods of VLF's lower edge would need 606 s; one is the minimum. */
export const MAX_SEGMENT_S = 600;
/** Upper edge of the analysed spectrum, Hz. */
const F_MAX = BANDS_HZ.hf[1];

/** A one-sided power spectral density: frequencies (Hz) and density (ms²/Hz) on an even grid. */
export interface Psd {
  freqHz: Float64Array;
  density: Float64Array;
  /** Grid spacing, Hz. */
  dfHz: number;
  /** Length of the segments averaged, s. */
  segmentS: number;
  /** Highest frequency the spectrum covers, Hz (Lomb: half the mean beat rate, at most 0.4 Hz). */
  maxHz: number;
  segments: number;
  /** Gap time (s) bridged by interpolation inside the stretches that were used (Welch only; Lomb needs none). */
  bridgedS: number;
}

/**
 * Segment length (s) for runs of the given durations: as long as possible while runs at least that long
 * still hold half of the recorded time, so one long run does not leave the rest of the window unused.
 */
export function segmentLengthS(durationsS: readonly number[]): number {
  const sorted = [...durationsS].sort((a, b) => b - a);
  const total = sorted.reduce((p, c) => p + c, 0);
  let acc = 0;
  for (const d of sorted) {
    acc += d;
    if (acc >= total / 2) return d;
  }
  return 0;
}

/**
 * Longest gap, s of missing time (start of the interval after the gap minus the beat before it), that the
 * Welch resampling bridges: one excluded ectopic beat removes two intervals, about 2 s at 60 bpm.
 */
export const MAX_BRIDGED_GAP_S = 3;
/** Largest share of a joined run's time that may be bridged gaps; beyond it the run is split there. */
export const MAX_BRIDGED_FRACTION = 0.1;

/** A stretch of intervals [a, b) resampled as one, with the gap time (s) inside it that was bridged. */
export interface JoinedRun {
  a: number;
  b: number;
  bridgedS: number;
}

/**
 * Joins contiguous runs across short gaps (≤ MAX_BRIDGED_GAP_S each) while bridged time stays at most
 * MAX_BRIDGED_FRACTION of the joined stretch, so a few excluded beats do not cut a long recording into
 * pieces too short for LF and VLF, yet frequent ectopy (e.g. trigeminy, where most of the time is gaps)
 * is never papered over by interpolation.
 */
export function joinShortGaps(series: RrSeries): JoinedRun[] {
  const out: JoinedRun[] = [];
  let cur: JoinedRun | null = null;
  for (const [a, b] of contiguousRuns(series)) {
    if (cur) {
      const gapS: number = (series.tMs[a]! - series.rrMs[a]! - series.tMs[cur.b - 1]!) / 1000;
      const spanS: number = (series.tMs[b - 1]! - series.tMs[cur.a]! + series.rrMs[cur.a]!) / 1000;
      if (gapS <= MAX_BRIDGED_GAP_S && cur.bridgedS + gapS <= MAX_BRIDGED_FRACTION * spanS) {
        cur = { a: cur.a, b, bridgedS: cur.bridgedS + gapS };
        continue;
      }
      out.push(cur);
    }
    cur = { a, b, bridgedS: 0 };
  }
  if (cur) out.push(cur);
  return out;
}

/** Welch PSD of the NN series (ms²/Hz), joined runs resampled at 4 Hz separately; null if none is long enough. */
export function welchPsd(series: RrSeries, minSegmentS = 1 / BANDS_HZ.hf[0]): Psd | null {
  const joined = joinShortGaps(series).filter((r) => r.b - r.a >= 4);
  const runs = joined.map((r): [number, number] => [r.a, r.b]);
  const segmentS = Math.min(
    segmentLengthS(runs.map(([a, b]) => (series.tMs[b - 1]! - series.tMs[a]!) / 1000)),
    MAX_SEGMENT_S,
  );
  if (segmentS < minSegmentS) return null;
  const segLen = Math.floor(segmentS * RESAMPLE_HZ);
  const nfft = nextPowerOfTwo(segLen);
  const win = new Float64Array(segLen);
  let winPower = 0;
  for (let i = 0; i < segLen; i++) {
    win[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (segLen - 1));
    winPower += win[i]! * win[i]!;
  }
  const nBins = Math.floor(F_MAX * (nfft / RESAMPLE_HZ)) + 2;
  const acc = new Float64Array(nBins);
  // Zero-padded frame: only its first segLen samples are ever written.
  const frame = new Float64Array(nfft);
  const re = new Float64Array(nfft / 2 + 1);
  const im = new Float64Array(nfft / 2 + 1);
  let segments = 0;
  let bridgedS = 0;
  let beatS = 0;
  let beatCount = 0;
  const step = Math.max(1, Math.floor(segLen / 2));
  for (const { a, b, bridgedS: runBridgedS } of joined) {
    const x = series.tMs.subarray(a, b);
    const y = series.rrMs.subarray(a, b);
    const t0 = x[0]!;
    if ((x[x.length - 1]! - t0) / 1000 < (segLen - 1) / RESAMPLE_HZ) continue;
    bridgedS += runBridgedS;
    for (let i = a; i < b; i++) beatS += series.rrMs[i]! / 1000;
    beatCount += b - a;
    const xs = Float64Array.from(x, (v) => (v - t0) / 1000);
    const even = splineResample(xs, y, 0, 1 / RESAMPLE_HZ);
    for (let start = 0; start + segLen <= even.length; start += step) {
      const { a: icept, b: slope } = lineFit(even, start, segLen);
      for (let i = 0; i < segLen; i++) frame[i] = (even[start + i]! - icept - slope * i) * win[i]!;
      realFft(frame, re, im);
      for (let k = 0; k < nBins; k++) acc[k] = acc[k]! + re[k]! * re[k]! + im[k]! * im[k]!;
      segments++;
    }
  }
  if (segments === 0) return null;
  const df = RESAMPLE_HZ / nfft;
  // One-sided density: 2·|X|² / (fs·Σw²), averaged over segments.
  const scale = 2 / (RESAMPLE_HZ * winPower * segments);
  const freqHz = new Float64Array(nBins);
  const density = new Float64Array(nBins);
  // The spline through one sample per beat low-passes the RR signal; undo its transfer function up to the
  // beat Nyquist frequency (see splineGain), where it is known. Above it the beats alias and nothing is undone.
  const meanBeatS = beatS / beatCount;
  const nyquist = 0.5 / meanBeatS;
  for (let k = 0; k < nBins; k++) {
    freqHz[k] = k * df;
    // Above the beat Nyquist frequency the spectrum holds only images of lower components made by the
    // interpolation: it is set to 0 rather than counted into HF.
    const g = freqHz[k]! <= nyquist ? splineGain(freqHz[k]! * meanBeatS) : Infinity;
    density[k] = (acc[k]! * scale * (k === 0 ? 0.5 : 1)) / (g * g);
  }
  return { freqHz, density, dfHz: df, segmentS, segments, maxHz: Math.min(F_MAX, nyquist), bridgedS };
}

/**
 * Amplitude gain of cubic-spline interpolation of samples one beat apart at frequency x cycles per beat
 * (x = f · mean RR): the cardinal cubic spline's transfer function sinc⁴(x) · 3 / (2 + cos 2πx) (Unser
 * 1999). At 0.35 Hz it is 0.916 at 1000 ms (power −16%) and 0.774 at 1200 ms (power −40%): the low-HR
 * bias of spline-resampled Welch. Beats are not exactly evenly spaced; with the mean interval the
 * correction leaves sines within 2% (docs/frequency-domain.md).
 */
export function splineGain(x: number): number {
  if (x === 0) return 1;
  const s = Math.sin(Math.PI * x) / (Math.PI * x);
  return s ** 4 * (3 / (2 + Math.cos(2 * Math.PI * x)));
}

/** Intercept a and slope b (per sample) of the least-squares line through v[start … start + len). */
function lineFit(v: Float64Array, start: number, len: number): { a: number; b: number } {
  const st = (len * (len - 1)) / 2;
  const stt = ((len - 1) * len * (2 * len - 1)) / 6;
  let sy = 0;
  let sty = 0;
  for (let i = 0; i < len; i++) {
    sy += v[start + i]!;
    sty += i * v[start + i]!;
  }
  const b = (len * sty - st * sy) / (len * stt - st * st);
  return { a: (sy - b * st) / len, b };
}

/**
 * Lomb–Scargle PSD (ms²/Hz) on the uneven NN series, averaged over Hann-tapered, linearly detrended
 * segments of at most 600 s with 50% overlap; frequencies on a grid of 1/(4·L) Hz up to 0.4 Hz (or half
 * the mean beat rate), O(N·F) per segment with trigonometric recurrences — ~8 ms for 30 minutes, so the
 * Press–Rybicki extirpolation is not needed at these sizes.
 */
export function lombPsd(series: RrSeries, minSegmentS = 1 / BANDS_HZ.hf[0]): Psd | null {
  const n = series.rrMs.length;
  if (n < 8) return null;
  const span = (series.tMs[n - 1]! - series.tMs[0]!) / 1000;
  const segmentS = Math.min(span, MAX_SEGMENT_S);
  if (segmentS < minSegmentS) return null;
  const df = 1 / (4 * segmentS);
  // Beyond half the mean beat rate the uneven samples alias: no frequency above it is computed.
  const nyquist = Math.min(F_MAX, (0.5 * (n - 1)) / span);
  const nBins = Math.floor(nyquist / df) + 1;
  const acc = new Float64Array(nBins);
  const yc = new Float64Array(nBins);
  const ys = new Float64Array(nBins);
  const c2 = new Float64Array(nBins);
  const s2 = new Float64Array(nBins);
  let segments = 0;
  const t0 = series.tMs[0]! / 1000;
  for (let start = t0; start + segmentS <= t0 + span + 1e-9; start += segmentS / 2) {
    // Intervals whose beat time lies in [start, start + L].
    let a = 0;
    while (a < n && series.tMs[a]! / 1000 < start) a++;
    let b = a;
    while (b < n && series.tMs[b]! / 1000 <= start + segmentS) b++;
    const m = b - a;
    if (m < 8) continue;
    // Least-squares line through the segment (time in s from its start), removed before the periodogram.
    let st = 0;
    let sy = 0;
    let stt = 0;
    let sty = 0;
    for (let i = a; i < b; i++) {
      const t = series.tMs[i]! / 1000 - start;
      st += t;
      sy += series.rrMs[i]!;
      stt += t * t;
      sty += t * series.rrMs[i]!;
    }
    const det = m * stt - st * st;
    const slope = det > 0 ? (m * sty - st * sy) / det : 0;
    const icept = (sy - slope * st) / m;
    let w2 = 0;
    yc.fill(0);
    ys.fill(0);
    c2.fill(0);
    s2.fill(0);
    for (let i = a; i < b; i++) {
      const t = series.tMs[i]! / 1000 - start;
      // Hann taper over the segment, as in Welch: without it a strong band leaks ~2% into its neighbours.
      const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * t) / segmentS);
      const ww = w * w;
      w2 += ww;
      const y = (series.rrMs[i]! - icept - slope * t) * w;
      const dc = Math.cos(2 * Math.PI * df * t);
      const ds = Math.sin(2 * Math.PI * df * t);
      let c = 1;
      let s = 0;
      for (let k = 0; k < nBins; k++) {
        yc[k] = yc[k]! + y * c;
        ys[k] = ys[k]! + y * s;
        c2[k] = c2[k]! + ww * (c * c - s * s);
        s2[k] = s2[k]! + ww * 2 * c * s;
        const cn = c * dc - s * ds;
        s = s * dc + c * ds;
        c = cn;
      }
    }
    for (let k = 1; k < nBins; k++) {
      const tau2 = Math.atan2(s2[k]!, c2[k]!);
      const ct = Math.cos(tau2 / 2);
      const st = Math.sin(tau2 / 2);
      // Σw²cos²(ω(t−τ)) and Σw²sin²: the taper enters the normalisation as in a modified periodogram.
      const cc = w2 / 2 + 0.5 * (c2[k]! * Math.cos(tau2) + s2[k]! * Math.sin(tau2));
      const ss = w2 - cc;
      const yct = yc[k]! * ct + ys[k]! * st;
      const yst = ys[k]! * ct - yc[k]! * st;
      const p = 0.5 * ((cc > 1e-12 ? (yct * yct) / cc : 0) + (ss > 1e-12 ? (yst * yst) / ss : 0));
      // One-sided density 2·P·T/N: with P = |Σw·y·e^(−iωt)|²/Σw² its integral is the variance.
      acc[k] = acc[k]! + (2 * p * segmentS) / m;
    }
    segments++;
  }
  if (segments === 0) return null;
  const freqHz = new Float64Array(nBins);
  const density = new Float64Array(nBins);
  for (let k = 0; k < nBins; k++) {
    freqHz[k] = k * df;
    density[k] = acc[k]! / segments;
  }
  return { freqHz, density, dfHz: df, segmentS, segments, maxHz: nyquist, bridgedS: 0 };
}

/** Power in [lo, hi) Hz (ms²): rectangle rule over the PSD bins whose frequency lies in the band. */
export function bandPower(psd: Psd, lo: number, hi: number): number {
  let p = 0;
  for (let k = 0; k < psd.freqHz.length; k++) {
    const f = psd.freqHz[k]!;
    if (f >= lo && f < hi) p += psd.density[k]!;
  }
  return p * psd.dfHz;
}

/** Frequency of the PSD maximum inside [lo, hi) Hz. */
export function peakFrequency(psd: Psd, lo: number, hi: number): number | null {
  let best = -1;
  let at: number | null = null;
  for (let k = 0; k < psd.freqHz.length; k++) {
    const f = psd.freqHz[k]!;
    if (f >= lo && f < hi && psd.density[k]! > best) {
      best = psd.density[k]!;
      at = f;
    }
  }
  return at;
}

/**
 * Band powers below this (ms²) are floating-point rounding of a series without variability, not signal:
 * RR values are known to ~1 ms, whose quantisation alone carries ~0.08 ms². They are reported as 0, so a
 * constant series gives 0 power and no LF/HF ratio or peak instead of ratios of rounding noise.
 */
export const POWER_FLOOR_MS2 = 1e-9;

const NULL_MEASURES: FrequencyDomainMeasures = {
  vlf_ms2: null,
  lf_ms2: null,
  hf_ms2: null,
  total_power_ms2: null,
  lf_hf: null,
  lf_nu: null,
  hf_nu: null,
  peak_lf_hz: null,
  peak_hf_hz: null,
};

/**
 * Shortest segment (s) from which a band power is reported, beyond one period of its lowest frequency: the
 * Task Force (1996) asks for about 1 min of data for HF and 2 min for LF. From 10-s windows HF came out
 * −27% to +53% off; 50 s and 100 s leave room for the ~1-s margins of a 60-s or 120-s window.
 */
export const MIN_BAND_SEGMENT_S = { vlf: 1 / BANDS_HZ.vlf[0], lf: 100, hf: 50 } as const;

/** Default spectrum method: Lomb–Scargle has no interpolation and so no low-heart-rate bias (docs/frequency-domain.md). */
export const DEFAULT_PSD: PsdMethod = 'lomb';

/** Frequency-domain measures of the NN series by `method` (default Lomb–Scargle); bands the data cannot resolve are null. */
export function frequencyDomain(series: RrSeries, method: PsdMethod = DEFAULT_PSD): FrequencyDomainMeasures {
  const psd = method === 'welch' ? welchPsd(series) : lombPsd(series);
  if (!psd) return { ...NULL_MEASURES };
  // A band needs a long enough segment and must start below the beat Nyquist frequency (psd.maxHz).
  const minSpan = (lo: number) => (lo === BANDS_HZ.hf[0] ? MIN_BAND_SEGMENT_S.hf : lo === BANDS_HZ.lf[0] ? MIN_BAND_SEGMENT_S.lf : MIN_BAND_SEGMENT_S.vlf);
  const resolves = (lo: number) => psd.segmentS >= Math.max(1 / lo, minSpan(lo)) - 1e-9 && psd.maxHz > lo;
  const power = (band: readonly [number, number]): number | null => {
    if (!resolves(band[0])) return null;
    const p = bandPower(psd, band[0], band[1]);
    return p < POWER_FLOOR_MS2 ? 0 : p;
  };
  const vlf = power(BANDS_HZ.vlf);
  const lf = power(BANDS_HZ.lf);
  const hf = power(BANDS_HZ.hf);
  const lfhf = lf !== null && hf !== null;
  return {
    vlf_ms2: vlf,
    lf_ms2: lf,
    hf_ms2: hf,
    total_power_ms2: vlf !== null && lf !== null && hf !== null ? vlf + lf + hf : null,
    lf_hf: lfhf && hf > 0 ? lf / hf : null,
    lf_nu: lfhf && lf + hf > 0 ? (100 * lf) / (lf + hf) : null,
    hf_nu: lfhf && lf + hf > 0 ? (100 * hf) / (lf + hf) : null,
    peak_lf_hz: lf !== null && lf > 0 ? peakFrequency(psd, BANDS_HZ.lf[0], BANDS_HZ.lf[1]) : null,
    peak_hf_hz: hf !== null && hf > 0 ? peakFrequency(psd, BANDS_HZ.hf[0], BANDS_HZ.hf[1]) : null,
  };
}
