/**
 * PPG systolic-peak detection after Elgendi et al. (PLoS ONE 8(10):e76585, 2013), hardened for camera
 * PPG (finger on a phone's lens):
 * 1. the uneven frame times are resampled to an even 100 Hz grid (see PPG_RESAMPLE_HZ);
 * 2. Elgendi's detector: 0.5–8 Hz Butterworth band-pass (zero phase), negative half clipped, squared,
 *    two moving averages (systolic-peak width 111 ms, beat width 667 ms), a threshold of the beat average
 *    plus 2% of the mean squared signal, and blocks at least one peak-width long; each block's maximum
 *    of the filtered pulse is a candidate;
 * 3. a rhythm pass that Elgendi's method lacks and camera PPG needs: its large dicrotic wave forms blocks
 *    of its own. The local beat period comes from the autocorrelation of the pulse (robust to those extra
 *    waves, unlike the median of detected intervals), candidates are accepted in order of their systolic
 *    upstroke with a refractory time of 0.65 local periods, and gaps longer than 1.5 periods are searched
 *    again for the best remaining upstroke;
 * 4. each peak is moved to the local maximum of the filtered pulse and placed between grid samples by a
 *    parabola, so the reported time does not snap to the 10 ms grid;
 * 5. each beat gets a quality score (the pulse's local regularity), so callers can see where the finger
 *    lost contact.
 * ppgIntervals() then turns beats into an RR series that leaves out implausible intervals as gaps, and
 * ppgAgreement() scores beats against a chest strap's RR list whose clock is not synchronised.
 */
import { HrvError } from './errors.js';
import { butterBandpass, filtfilt, movingAverage } from './filters.js';
import { medianStep, resampleEven } from './resample-even.js';
import { successiveDifferences } from './segments.js';
import type { RrSeries } from './types.js';

/**
 * Working rate, Hz. Camera frames come at about 30 per second with jitter; on a 30 Hz grid a peak could
 * only be placed to ±17 ms, a sizeable fraction of typical RMSSD values (20–50 ms). 100 Hz puts the grid
 * at 10 ms (refined further by the parabola), keeps the 111 ms and 667 ms averages at 11 and 67 samples,
 * and is cheap: a 2-minute recording is 12 000 samples.
 */
export const PPG_RESAMPLE_HZ = 100;
/** Shortest input the detector accepts, s: the beat average and the period estimate need several beats. */
export const PPG_MIN_DURATION_S = 5;
/** Slowest acceptable input: a median sample spacing above 1/15 s cannot carry the 0.5–8 Hz pulse band. */
export const PPG_MIN_INPUT_HZ = 15;
/** Physiological limits of a beat interval, ms (220 and 30 beats per minute). */
export const PPG_MIN_RR_MS = 273;
export const PPG_MAX_RR_MS = 2000;

/**
 * Which way the pulse points. `volume`: up = more blood (pulse oximeters, most PPG sensors). `intensity`:
 * up = more light reaches the sensor; with a finger on a camera more blood absorbs more light, so the
 * pulse is upside down. `auto` decides from the waveform: the systolic upstroke is much steeper than the
 * diastolic run-off, so the derivative of a volume-polarity pulse is skewed positive.
 */
export type PpgPolarity = 'auto' | 'volume' | 'intensity';

/** Tuning of the PPG detector. */
export interface PpgDetectOptions {
  /** Polarity of `values` (default `auto`). */
  polarity?: PpgPolarity;
}

/** Intermediate signals of the detector, for plotting and for the validation script. */
export interface PpgDetection {
  /** Systolic peak times, s, on the input's time axis. */
  beatsS: Float64Array;
  /** The band-passed pulse in volume polarity on the even grid; sample k is at t0S + k / fsHz. */
  pulse: Float64Array;
  t0S: number;
  fsHz: number;
  /** The polarity used (`auto` resolved). */
  polarity: 'volume' | 'intensity';
  /**
   * Signal quality at each beat (0–1): how regular the pulse is around it, as the normalised
   * autocorrelation at the beat period over 8 s. Camera PPG with no finger contact or with motion scores
   * 0.1–0.3 (as does noise); a clean pulse 0.6–0.9.
   */
  quality: Float64Array;
}

// Elgendi's published parameters.
const BAND_HZ: [number, number] = [0.5, 8];
const PEAK_WIDTH_S = 0.111;
const BEAT_WIDTH_S = 0.667;
const OFFSET_BETA = 0.02;
// Rhythm pass.
const UPSTROKE_S = 0.35; // the systolic rise lasts 0.1–0.3 s
const REFRACTORY_PERIODS = 0.65;
const SEARCH_BACK_PERIODS = 1.5;
const SEARCH_BACK_MIN_RISE = 0.15; // of the median upstroke of the neighbouring beats
const PERIOD_WINDOW_S = 8;
const PERIOD_HOP_S = 2;
const PERIOD_MIN_S = 0.3;
const PERIOD_MAX_S = 2;
const HARD_REFRACTORY_S = PPG_MIN_RR_MS / 1000;

function validate(tS: Float64Array, values: Float64Array): void {
  if (tS.length !== values.length) {
    throw new HrvError(
      'HRV_ERR_INPUT',
      `PPG times and values differ in length (${tS.length} times, ${values.length} values)`,
    );
  }
  if (tS.length < 2) throw new HrvError('HRV_ERR_TOO_SHORT', `PPG signal has ${tS.length} samples`);
  for (let i = 0; i < tS.length; i++) {
    if (!Number.isFinite(tS[i]!))
      throw new HrvError('HRV_ERR_INPUT', `PPG time ${i} is not a finite number (${tS[i]})`);
    if (!Number.isFinite(values[i]!)) {
      throw new HrvError('HRV_ERR_INPUT', `PPG value ${i} is not a finite number (${values[i]})`);
    }
    if (i > 0 && !(tS[i]! > tS[i - 1]!)) {
      throw new HrvError(
        'HRV_ERR_INPUT',
        `PPG times must increase: sample ${i} at ${tS[i]} s follows ${tS[i - 1]} s`,
      );
    }
  }
  const durationS = tS[tS.length - 1]! - tS[0]!;
  if (durationS < PPG_MIN_DURATION_S) {
    throw new HrvError(
      'HRV_ERR_TOO_SHORT',
      `PPG signal of ${durationS.toFixed(2)} s is too short for beat detection (at least ${PPG_MIN_DURATION_S} s)`,
    );
  }
  const inputHz = 1 / medianStep(tS);
  if (inputHz < PPG_MIN_INPUT_HZ) {
    throw new HrvError(
      'HRV_ERR_SAMPLING_RATE',
      `PPG sampling rate ${inputHz.toFixed(1)} Hz is too low (at least ${PPG_MIN_INPUT_HZ} Hz)`,
    );
  }
}

/** Skewness of the first difference: positive when rises are steeper than falls. */
function derivativeSkew(y: Float64Array): number {
  const n = y.length - 1;
  let m = 0;
  for (let i = 0; i < n; i++) m += y[i + 1]! - y[i]!;
  m /= n;
  let m2 = 0;
  let m3 = 0;
  for (let i = 0; i < n; i++) {
    const d = y[i + 1]! - y[i]! - m;
    m2 += d * d;
    m3 += d * d * d;
  }
  return m2 > 0 ? m3 / n / (m2 / n) ** 1.5 : 0;
}

/** Elgendi's candidate peaks: the filtered pulse's maximum in each block of interest. */
function elgendiCandidates(y: Float64Array, fsHz: number): number[] {
  const n = y.length;
  const sq = new Float64Array(n);
  let mean = 0;
  for (let i = 0; i < n; i++) {
    const v = y[i]! > 0 ? y[i]! * y[i]! : 0;
    sq[i] = v;
    mean += v;
  }
  mean /= n;
  const w1 = Math.round(PEAK_WIDTH_S * fsHz);
  const w2 = Math.round(BEAT_WIDTH_S * fsHz);
  const maPeak = movingAverage(sq, w1);
  const maBeat = movingAverage(sq, w2);
  const alpha = OFFSET_BETA * mean;
  const out: number[] = [];
  let i = 0;
  while (i < n) {
    if (maPeak[i]! <= maBeat[i]! + alpha) {
      i++;
      continue;
    }
    let j = i;
    let best = i;
    while (j < n && maPeak[j]! > maBeat[j]! + alpha) {
      if (y[j]! > y[best]!) best = j;
      j++;
    }
    if (j - i >= w1) out.push(best);
    i = j;
  }
  return out;
}

interface PeriodWindows {
  /** Window centres, samples. */
  centres: number[];
  /** Beat period of each window, samples; NaN where the window shows no rhythm. */
  periods: number[];
  /** Normalised autocorrelation at that period (1 = perfectly periodic; 0 where there is none). */
  strengths: number[];
}

/**
 * Beat period of overlapping windows: the first strong autocorrelation peak (within 75% of the highest, so
 * neither a dicrotic echo at a fraction of the period nor a multiple of it is taken).
 */
function periodWindows(y: Float64Array, fsHz: number): PeriodWindows {
  const n = y.length;
  const w = Math.min(n, Math.round(PERIOD_WINDOW_S * fsHz));
  const hop = Math.round(PERIOD_HOP_S * fsHz);
  const lagLo = Math.round(PERIOD_MIN_S * fsHz);
  const lagHi = Math.min(w - 2, Math.round(PERIOD_MAX_S * fsHz));
  const out: PeriodWindows = { centres: [], periods: [], strengths: [] };
  const seg = new Float64Array(w);
  const ac = new Float64Array(lagHi + 2);
  for (let start = 0; start + w <= n; start += hop) {
    let m = 0;
    for (let i = 0; i < w; i++) m += y[start + i]!;
    m /= w;
    for (let i = 0; i < w; i++) seg[i] = y[start + i]! - m;
    for (let lag = 0; lag <= lagHi + 1; lag++) {
      let s = 0;
      for (let i = 0; i + lag < w; i++) s += seg[i]! * seg[i + lag]!;
      ac[lag] = s;
    }
    let top = 0;
    for (let lag = lagLo; lag <= lagHi; lag++) {
      if (ac[lag]! > ac[lag - 1]! && ac[lag]! >= ac[lag + 1]! && ac[lag]! > top) top = ac[lag]!;
    }
    out.centres.push(start + w / 2);
    if (top <= 0) {
      out.periods.push(Number.NaN);
      out.strengths.push(0);
      continue;
    }
    for (let lag = lagLo; lag <= lagHi; lag++) {
      if (ac[lag]! > ac[lag - 1]! && ac[lag]! >= ac[lag + 1]! && ac[lag]! >= 0.75 * top) {
        out.periods.push(lag);
        out.strengths.push(ac[lag]! / ac[0]!);
        break;
      }
    }
  }
  return out;
}

/** Linear interpolation of per-window values at sample k (held constant beyond the first and last centre). */
function atSample(centres: number[], values: number[], k: number): number {
  if (k <= centres[0]!) return values[0]!;
  let lo = 0;
  let hi = centres.length - 1;
  if (k >= centres[hi]!) return values[hi]!;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (centres[mid]! <= k) lo = mid;
    else hi = mid;
  }
  return values[lo]! + ((values[hi]! - values[lo]!) * (k - centres[lo]!)) / (centres[hi]! - centres[lo]!);
}

/**
 * Local beat period in samples at every grid sample: the windows' periods median-smoothed over five
 * windows and interpolated between their centres.
 */
function localPeriod(n: number, fsHz: number, windows: PeriodWindows): Float64Array {
  const centres: number[] = [];
  const periods: number[] = [];
  windows.periods.forEach((p, i) => {
    if (!Number.isNaN(p)) {
      centres.push(windows.centres[i]!);
      periods.push(p);
    }
  });
  const out = new Float64Array(n);
  if (periods.length === 0) {
    // No rhythm anywhere (noise only): fall back to 60 bpm so the rhythm pass still bounds the rate.
    out.fill(fsHz);
    return out;
  }
  const smooth = periods.map((_, i) => median(periods.slice(Math.max(0, i - 2), i + 3)));
  for (let k = 0; k < n; k++) out[k] = atSample(centres, smooth, k);
  return out;
}

/** Height of the systolic upstroke ending at sample k: pulse at k minus its minimum over the rise before. */
function upstroke(y: Float64Array, k: number, span: number): number {
  let lo = y[k]!;
  for (let i = Math.max(0, k - span); i < k; i++) if (y[i]! < lo) lo = y[i]!;
  return y[k]! - lo;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The rhythm pass: refractory selection by upstroke, then search-back in long gaps. */
function selectBeats(y: Float64Array, fsHz: number, candidates: number[], windows: PeriodWindows): number[] {
  const n = y.length;
  const period = localPeriod(n, fsHz, windows);
  const span = Math.round(UPSTROKE_S * fsHz);
  const hard = HARD_REFRACTORY_S * fsHz;
  const refractory = (k: number): number => Math.max(hard, REFRACTORY_PERIODS * period[k]!);
  const order = candidates.map((k) => ({ k, rise: upstroke(y, k, span) })).sort((a, b) => b.rise - a.rise);
  // Accepted beats marked on the grid, so the refractory check looks only at the samples around a candidate.
  const taken = new Uint8Array(n);
  for (const { k } of order) {
    const r = Math.ceil(refractory(k)) - 1;
    let free = true;
    for (let i = Math.max(0, k - r); i <= Math.min(n - 1, k + r) && free; i++)
      if (taken[i] === 1) free = false;
    if (free) taken[k] = 1;
  }
  const accepted: number[] = [];
  for (let i = 0; i < n; i++) if (taken[i] === 1) accepted.push(i);

  // Search-back pool: every local maximum of the pulse, since a weak beat may not have formed a block.
  const pool: number[] = [];
  for (let i = 1; i < n - 1; i++) if (y[i]! > y[i - 1]! && y[i]! >= y[i + 1]!) pool.push(i);
  const firstAfter = (k: number): number => {
    let lo = 0;
    let hi = pool.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pool[mid]! <= k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  for (let i = 0; i + 1 < accepted.length;) {
    const p = accepted[i]!;
    const q = accepted[i + 1]!;
    const r = refractory(p);
    let best = -1;
    let bestRise = -Infinity;
    if (q - p > SEARCH_BACK_PERIODS * period[p]!) {
      for (let j = firstAfter(p + r); j < pool.length && pool[j]! < q - r; j++) {
        const rise = upstroke(y, pool[j]!, span);
        if (rise > bestRise) {
          bestRise = rise;
          best = pool[j]!;
        }
      }
    }
    if (best >= 0) {
      const near = accepted.slice(Math.max(0, i - 4), i + 6).map((k) => upstroke(y, k, span));
      if (bestRise >= SEARCH_BACK_MIN_RISE * median(near)) {
        // Re-examine (p, best) too: two beats may be missing in a row.
        accepted.splice(i + 1, 0, best);
        continue;
      }
    }
    i++;
  }
  return accepted;
}

/** Sub-sample position of the maximum at k (a parabola through k − 1, k, k + 1), in samples. */
function refinePeak(y: Float64Array, k: number): number {
  // Climb to the local maximum first: a block's maximum can sit on the block's edge, on a slope.
  while (k > 0 && y[k - 1]! > y[k]!) k--;
  while (k < y.length - 1 && y[k + 1]! > y[k]!) k++;
  if (k === 0 || k === y.length - 1) return k;
  const a = y[k - 1]!;
  const b = y[k]!;
  const c = y[k + 1]!;
  const den = a - 2 * b + c;
  return den < 0 ? k + (0.5 * (a - c)) / den : k;
}

/** Runs the detector and returns the beats with its intermediate signals. Times in s. */
export function detectPpg(
  tS: Float64Array,
  values: Float64Array,
  options: PpgDetectOptions = {},
): PpgDetection {
  validate(tS, values);
  const polarityOption = options.polarity ?? 'auto';
  if (!['auto', 'volume', 'intensity'].includes(polarityOption)) {
    throw new HrvError(
      'HRV_ERR_INPUT',
      `PPG polarity must be auto, volume or intensity, got ${String(polarityOption)}`,
    );
  }
  const even = resampleEven(tS, values, PPG_RESAMPLE_HZ);
  const fsHz = even.fsHz;
  const y = filtfilt(butterBandpass(BAND_HZ[0], BAND_HZ[1], fsHz, 2), even.values);
  const polarity =
    polarityOption === 'auto' ? (derivativeSkew(y) < 0 ? 'intensity' : 'volume') : polarityOption;
  if (polarity === 'intensity') for (let i = 0; i < y.length; i++) y[i] = -y[i]!;
  const windows = periodWindows(y, fsHz);
  const beats = selectBeats(y, fsHz, elgendiCandidates(y, fsHz), windows);
  const beatsS = new Float64Array(beats.length);
  const quality = new Float64Array(beats.length);
  let m = 0;
  let last = -Infinity;
  for (const k of beats) {
    const x = refinePeak(y, k);
    const t = even.t0S + x / fsHz;
    // Two candidates can climb to the same maximum; keep one.
    if (t - last < HARD_REFRACTORY_S) continue;
    quality[m] = windows.centres.length > 0 ? atSample(windows.centres, windows.strengths, x) : 0;
    beatsS[m++] = t;
    last = t;
  }
  return {
    beatsS: beatsS.slice(0, m),
    quality: quality.slice(0, m),
    pulse: y,
    t0S: even.t0S,
    fsHz,
    polarity,
  };
}

/**
 * Systolic peak times, s, of a PPG signal sampled at times tS (s, increasing; even or uneven, e.g. camera
 * frames) with values in any unit.
 */
export function detectPpgBeats(
  tS: Float64Array,
  values: Float64Array,
  options: PpgDetectOptions = {},
): Float64Array {
  return detectPpg(tS, values, options).beatsS;
}

/** Beat intervals of detected PPG beats, with the implausible ones left out (each leaves a gap). */
export interface PpgIntervals {
  /** Kept intervals; times in ms on the beats' time axis. */
  series: RrSeries;
  /** Intervals left out: outside 273–2000 ms or more than 30% from the median of their 11 neighbours. */
  excluded: number;
}

const LOCAL_MEDIAN_HALF = 5;
const LOCAL_TOLERANCE = 0.3;

/**
 * Intervals between PPG beats (s in, ms out), keeping those a heart can produce: within physiological
 * limits and within 30% of the local median. A missed or extra beat in camera PPG makes intervals of
 * about double or half the local one, far outside the beat-to-beat change of sinus rhythm.
 */
export function ppgIntervals(beatsS: Float64Array): PpgIntervals {
  const n = Math.max(0, beatsS.length - 1);
  const rr = new Float64Array(n);
  for (let i = 0; i < n; i++) rr[i] = (beatsS[i + 1]! - beatsS[i]!) * 1000;
  const tMs: number[] = [];
  const rrMs: number[] = [];
  const w = Math.min(n, 2 * LOCAL_MEDIAN_HALF + 1);
  for (let i = 0; i < n; i++) {
    const v = rr[i]!;
    // A fixed-size window, shifted rather than truncated at the ends, so the first few intervals are
    // judged against as many neighbours as the rest.
    const start = Math.min(Math.max(0, i - LOCAL_MEDIAN_HALF), n - w);
    const med = median(Array.from(rr.subarray(start, start + w)));
    if (v < PPG_MIN_RR_MS || v > PPG_MAX_RR_MS || Math.abs(v - med) > LOCAL_TOLERANCE * med) continue;
    tMs.push(beatsS[i + 1]! * 1000);
    rrMs.push(v);
  }
  return {
    series: { tMs: Float64Array.from(tMs), rrMs: Float64Array.from(rrMs) },
    excluded: n - rrMs.length,
  };
}

/** Mean interval (ms) and RMSSD (ms) of an RR series; differences are not taken across gaps. */
export interface RrSummary {
  n: number;
  mean_rr_ms: number | null;
  rmssd_ms: number | null;
}

/** Mean interval and RMSSD (ms) of a series, or of a plain interval list (ms, no gaps). */
export function rrSummary(rr: RrSeries | ArrayLike<number>): RrSummary {
  const series: RrSeries =
    'rrMs' in rr
      ? rr
      : (() => {
          const rrMs = Float64Array.from(rr);
          const tMs = new Float64Array(rrMs.length);
          let acc = 0;
          for (let i = 0; i < rrMs.length; i++) tMs[i] = acc += rrMs[i]!;
          return { tMs, rrMs };
        })();
  const n = series.rrMs.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += series.rrMs[i]!;
  const d = successiveDifferences(series);
  let ss = 0;
  for (let i = 0; i < d.length; i++) ss += d[i]! * d[i]!;
  return {
    n,
    mean_rr_ms: n > 0 ? sum / n : null,
    rmssd_ms: d.length > 0 ? Math.sqrt(ss / d.length) : null,
  };
}

/** A colour channel's suitability as a camera PPG. */
export interface PpgChannelScore {
  name: string;
  /**
   * How regular the channel's pulse is: median over 8 s windows of the normalised autocorrelation at the
   * beat period (0–1); null when the channel is unusable.
   */
  periodicity: number | null;
  /** Why the channel was passed over, if it was. */
  rejected?: 'dark' | 'clipped';
}

const DARK_FRACTION = 0.01;
const CLIP_LEVEL = 0.99;
const CLIP_SHARE = 0.05;

/**
 * Ranks the colour channels of a camera PPG (frame means, 0–fullScale) by how well they carry the pulse,
 * best first. The score is the regularity of the 0.5–8 Hz pulse, not its share of power: on these
 * recordings the band-power share picked channels whose beats are harder to find (motion puts power in
 * the pulse band too, but does not repeat every beat). Dark channels (mean under 1% of full scale: a
 * finger on the lens lets almost no blue or green through, leaving quantisation noise) and clipped ones
 * (over 5% of frames at full scale) are passed over.
 */
export function rankPpgChannels(
  tS: Float64Array,
  channels: Record<string, Float64Array>,
  fullScale = 255,
): PpgChannelScore[] {
  const scores: PpgChannelScore[] = [];
  for (const [name, values] of Object.entries(channels)) {
    validate(tS, values);
    let mean = 0;
    let clipped = 0;
    for (let i = 0; i < values.length; i++) {
      mean += values[i]!;
      if (values[i]! >= CLIP_LEVEL * fullScale) clipped++;
    }
    mean /= values.length;
    if (mean < DARK_FRACTION * fullScale) {
      scores.push({ name, periodicity: null, rejected: 'dark' });
      continue;
    }
    if (clipped > CLIP_SHARE * values.length) {
      scores.push({ name, periodicity: null, rejected: 'clipped' });
      continue;
    }
    const even = resampleEven(tS, values, PPG_RESAMPLE_HZ);
    const y = filtfilt(butterBandpass(BAND_HZ[0], BAND_HZ[1], even.fsHz, 2), even.values);
    const { strengths } = periodWindows(y, even.fsHz);
    scores.push({ name, periodicity: strengths.length > 0 ? median(strengths) : 0 });
  }
  return scores.sort((a, b) => (b.periodicity ?? -1) - (a.periodicity ?? -1));
}

/** Beat-by-beat agreement of detected PPG beats with a reference RR list recorded at the same time. */
export interface PpgAgreement {
  /** Shift added to the reference's beat times (cumulative sums of its intervals, from 0) to line them up, s. */
  offsetS: number;
  /** Reference beats inside the span of the detected beats, and how many of them have a detection. */
  referenceBeats: number;
  matched: number;
  /** matched / referenceBeats and matched / detections inside the reference's span. */
  sensitivity: number;
  ppv: number;
  /** RMS difference of intervals between consecutive matched beats (PPG minus reference), ms. */
  intervalRmsErrorMs: number | null;
  /** Median of those differences, ms: near 0 unless one clock runs fast. */
  intervalMedianErrorMs: number | null;
}

/**
 * Lines up a reference RR list (ms; e.g. a chest strap whose clock is not synchronised with the camera)
 * with detected PPG beats (s) by the time shift that matches the most beats within toleranceS, then scores
 * the detection beat by beat. The pulse arrives at the finger a roughly constant time after the R wave,
 * which the shift absorbs.
 */
export function ppgAgreement(
  beatsS: Float64Array,
  referenceRrMs: ArrayLike<number>,
  toleranceS = 0.1,
): PpgAgreement {
  const ref = new Float64Array(referenceRrMs.length + 1);
  for (let i = 0; i < referenceRrMs.length; i++) {
    const rr = referenceRrMs[i]!;
    if (!Number.isFinite(rr) || rr <= 0) {
      throw new HrvError(
        'HRV_ERR_INPUT',
        `reference interval ${i} must be a positive number of ms, got ${rr}`,
      );
    }
    ref[i + 1] = ref[i]! + rr / 1000;
  }
  const nb = beatsS.length;
  if (nb < 2 || ref.length < 2) {
    throw new HrvError('HRV_ERR_TOO_SHORT', `agreement needs at least 2 detected and 2 reference beats`);
  }
  // Greedy one-to-one matching of the shifted reference to the (sorted) detections.
  const match = (offset: number, out?: Int32Array): number => {
    let j = 0;
    let count = 0;
    for (let i = 0; i < ref.length; i++) {
      const t = ref[i]! + offset;
      while (j < nb && beatsS[j]! < t - toleranceS) j++;
      if (j < nb && Math.abs(beatsS[j]! - t) <= toleranceS) {
        if (out) out[i] = j;
        count++;
        j++;
      } else if (out) out[i] = -1;
    }
    return count;
  };
  const lo = beatsS[0]! - ref[ref.length - 1]!;
  const hi = beatsS[nb - 1]! - ref[0]!;
  const step = toleranceS / 5;
  let best = lo;
  let bestCount = -1;
  for (let off = lo; off <= hi; off += step) {
    const c = match(off);
    if (c > bestCount) {
      bestCount = c;
      best = off;
    }
  }
  // Refine: centre the shift on the matched pairs' median lag so the tolerance window is symmetric.
  const pairs = new Int32Array(ref.length);
  match(best, pairs);
  const lags: number[] = [];
  pairs.forEach((j, i) => {
    if (j >= 0) lags.push(beatsS[j]! - ref[i]!);
  });
  if (lags.length > 0) best = median(lags);
  const matched = match(best, pairs);
  let refInside = 0;
  for (let i = 0; i < ref.length; i++) {
    const t = ref[i]! + best;
    if (t >= beatsS[0]! - toleranceS && t <= beatsS[nb - 1]! + toleranceS) refInside++;
  }
  let detInside = 0;
  for (let j = 0; j < nb; j++) {
    if (beatsS[j]! >= ref[0]! + best - toleranceS && beatsS[j]! <= ref[ref.length - 1]! + best + toleranceS)
      detInside++;
  }
  const diffs: number[] = [];
  for (let i = 1; i < ref.length; i++) {
    const a = pairs[i - 1]!;
    const b = pairs[i]!;
    if (a >= 0 && b === a + 1) diffs.push((beatsS[b]! - beatsS[a]! - (ref[i]! - ref[i - 1]!)) * 1000);
  }
  return {
    offsetS: best,
    referenceBeats: refInside,
    matched,
    sensitivity: refInside > 0 ? matched / refInside : 0,
    ppv: detInside > 0 ? matched / detInside : 0,
    intervalRmsErrorMs:
      diffs.length > 0 ? Math.sqrt(diffs.reduce((s, d) => s + d * d, 0) / diffs.length) : null,
    intervalMedianErrorMs: diffs.length > 0 ? median(diffs) : null,
  };
}
