/**
 * Beat labelling: normal (N), supraventricular premature (S: early, normal shape, the sinus node reset),
 * ventricular ectopic (V) or unclassifiable (Q: too noisy to judge), from morphology and timing. A ventricular beat looks unlike the patient's own normal beats (low correlation with the running
 * template of normal beats, a wider QRS, a different amplitude) and comes early (prematurity) with a
 * compensatory pause. Either sign alone is not enough: noise distorts the shape of normal beats, and
 * atrial premature beats come early with a normal shape. PVCs of one patient usually share a shape, so
 * the candidates are finally checked against their own template, which separates them from noise.
 */
import { HrvError } from './errors.js';
import { ecgFeatures, type EcgFeatures } from './ecg-detect.js';
import type { BeatLabel } from './types.js';
import { pearson } from './correlation.js';
import { filtfilt, movingAverage, notchFilter } from './filters.js';

/** Morphology and timing measured for each beat; exported for validation reports. */
export interface BeatFeatures {
  /** Correlation of the beat (−100…+300 ms around R) with the running template of normal beats. */
  corrN: Float64Array;
  /** QRS peak-to-peak amplitude relative to the local normal beats. */
  ampRatio: Float64Array;
  /** QRS duration estimate relative to the normal template's. */
  widthRatio: Float64Array;
  /** Preceding interval relative to the local cycle length. */
  prematurity: Float64Array;
  /** Following interval relative to the local cycle length. */
  pause: Float64Array;
  /**
   * Noise around the beat: mean QRS-band energy between the complexes (the worse of the two intervals
   * around the beat, QRS excluded) relative to the beat's own QRS energy; ≈ 0.005 on a clean record.
   */
  noise: Float64Array;
  /**
   * Broadband noise around the beat: RMS of the ECG's fast residual (the mains-notched 0.5–40 Hz ECG minus
   * its 25 ms moving average, where QRS-free stretches hold only muscle noise, spikes and hum) between the
   * complexes (the worse side), relative to the record's median QRS amplitude; ≈ 0.01 on a clean record.
   */
  hfNoise: Float64Array;
}

/** Per-beat evidence behind the labels; exported for validation reports. */
export interface BeatClassification extends BeatFeatures {
  labels: BeatLabel[];
  /** Correlation with the template of the record's PVC candidates (NaN when there are fewer than 3). */
  corrV: Float64Array;
}

interface Windows {
  pre: number;
  len: number;
  data: Float64Array; // beats × len, row-major
}

function extractWindows(ecg: Float64Array, peaks: Int32Array, pre: number, post: number): Windows {
  const len = pre + post + 1;
  const data = new Float64Array(peaks.length * len);
  const n = ecg.length;
  for (let b = 0; b < peaks.length; b++) {
    const r = peaks[b]!;
    const off = b * len;
    for (let k = 0; k < len; k++) {
      const i = Math.min(n - 1, Math.max(0, r - pre + k));
      data[off + k] = ecg[i]!;
    }
  }
  return { pre, len, data };
}

/** Per-sample median of the selected windows (of at most 512 of them, evenly spread, which is plenty). */
function medianTemplate(w: Windows, select: ArrayLike<number>): Float64Array {
  const stride = Math.max(1, Math.ceil(select.length / 512));
  const m = Math.ceil(select.length / stride);
  const t = new Float64Array(w.len);
  const col = new Float64Array(m);
  for (let k = 0; k < w.len; k++) {
    for (let s = 0; s < m; s++) col[s] = w.data[select[s * stride]! * w.len + k]!;
    col.sort();
    t[k] = col[m >> 1]!;
  }
  return t;
}

function medianOf(values: Float64Array): number {
  const s = Float64Array.from(values).sort();
  return s[s.length >> 1]!;
}

/** Peak-to-peak amplitude of window row b within [from, to) of the row. */
function peakToPeak(w: Windows, b: number, from: number, to: number): number {
  let mn = Infinity;
  let mx = -Infinity;
  for (let k = from; k < to; k++) {
    const v = w.data[b * w.len + k]!;
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  return mx - mn;
}

/** QRS duration in samples: span between the first and last sample whose slope exceeds 20% of the steepest one. */
function slopeWidth(x: Float64Array, off: number, from: number, to: number): number {
  let mx = 0;
  for (let k = from; k < to - 1; k++) mx = Math.max(mx, Math.abs(x[off + k + 1]! - x[off + k]!));
  if (mx === 0) return 0;
  let a = from;
  let b = to - 2;
  while (a < b && Math.abs(x[off + a + 1]! - x[off + a]!) < 0.2 * mx) a++;
  while (b > a && Math.abs(x[off + b + 1]! - x[off + b]!) < 0.2 * mx) b--;
  return b - a + 1;
}

function checkPeaks(peaks: Int32Array, n: number): void {
  for (let i = 0; i < peaks.length; i++) {
    const p = peaks[i]!;
    if (p < 0 || p >= n)
      throw new HrvError('HRV_ERR_INPUT', `beat ${i} at sample ${p} lies outside the signal (${n} samples)`);
    if (i > 0 && p <= peaks[i - 1]!)
      throw new HrvError('HRV_ERR_INPUT', `beat ${i} at sample ${p} does not follow beat ${i - 1}`);
  }
}

/** Measures the morphology and timing features of each beat (see BeatFeatures). */
export function beatFeatures(features: EcgFeatures, fsHz: number, peaks: Int32Array): BeatFeatures {
  const { ecg } = features;
  const nb = peaks.length;
  checkPeaks(peaks, ecg.length);
  const wide = extractWindows(ecg, peaks, Math.round(0.1 * fsHz), Math.round(0.3 * fsHz));
  // QRS part of the wide window: −80…+100 ms around R.
  const qFrom = wide.pre - Math.round(0.08 * fsHz);
  const qTo = wide.pre + Math.round(0.1 * fsHz) + 1;

  // Normal core: beats resembling the record's median beat; most beats of almost any record are normal.
  const all = Int32Array.from({ length: nb }, (_, i) => i);
  const global = medianTemplate(wide, all);
  const core: number[] = [];
  for (let b = 0; b < nb; b++) if (pearson(wide.data, b * wide.len, global, 0, wide.len) > 0.9) core.push(b);
  const seed = medianTemplate(wide, core.length >= 3 ? core : all);

  // Running template of normal beats, so slow changes of the axis or the amplitude are followed.
  const corrN = new Float64Array(nb);
  const ampRatio = new Float64Array(nb);
  const widthRatio = new Float64Array(nb);
  const tpl = Float64Array.from(seed);
  const alpha = 0.1;
  let tplAmp = peakToPeak({ pre: wide.pre, len: wide.len, data: tpl }, 0, qFrom, qTo);
  let tplWidth = Math.max(1, slopeWidth(tpl, 0, qFrom, qTo));
  for (let b = 0; b < nb; b++) {
    const off = b * wide.len;
    const c = pearson(wide.data, off, tpl, 0, wide.len);
    const amp = peakToPeak(wide, b, qFrom, qTo);
    const width = slopeWidth(wide.data, off, qFrom, qTo);
    corrN[b] = c;
    ampRatio[b] = tplAmp > 0 ? amp / tplAmp : 1;
    widthRatio[b] = width / tplWidth;
    if (c > 0.9 && ampRatio[b]! > 0.75 && ampRatio[b]! < 1.33) {
      for (let k = 0; k < wide.len; k++) tpl[k] = tpl[k]! + alpha * (wide.data[off + k]! - tpl[k]!);
      tplAmp += alpha * (amp - tplAmp);
      tplWidth = Math.max(1, tplWidth + alpha * (width - tplWidth));
    }
  }

  // Local cycle length: median over neighbouring beats of the mean of the intervals around each beat,
  // which is the sinus cycle both in sinus rhythm and in bigeminy (short + long pairs).
  const cycle = new Float64Array(nb);
  for (let b = 0; b < nb; b++) {
    const prev = b > 0 ? peaks[b]! - peaks[b - 1]! : NaN;
    const next = b < nb - 1 ? peaks[b + 1]! - peaks[b]! : NaN;
    cycle[b] = Number.isNaN(prev) ? next : Number.isNaN(next) ? prev : (prev + next) / 2;
  }
  const prematurity = new Float64Array(nb).fill(1);
  const pause = new Float64Array(nb).fill(1);
  const half = 8;
  const buf = new Float64Array(2 * half + 1);
  for (let b = 0; b < nb; b++) {
    const lo = Math.max(0, b - half);
    const hi = Math.min(nb - 1, b + half);
    const m = hi - lo + 1;
    for (let k = 0; k < m; k++) buf[k] = cycle[lo + k]!;
    const ref = medianOf(buf.subarray(0, m));
    if (!(ref > 0)) continue;
    if (b > 0) prematurity[b] = (peaks[b]! - peaks[b - 1]!) / ref;
    if (b < nb - 1) pause[b] = (peaks[b + 1]! - peaks[b]!) / ref;
  }
  const noise = new Float64Array(nb);
  const guard = Math.round(0.15 * fsHz);
  const meanEnergy = (from: number, to: number): number => {
    let sum = 0;
    for (let i = from; i < to; i++) sum += features.energy[i]!;
    return to > from ? sum / (to - from) : 0;
  };
  for (let b = 0; b < nb; b++) {
    const before = b > 0 ? meanEnergy(peaks[b - 1]! + guard, peaks[b]! - guard) : 0;
    const after = b < nb - 1 ? meanEnergy(peaks[b]! + guard, peaks[b + 1]! - guard) : 0;
    const own = features.energy[peaks[b]!]!;
    noise[b] = own > 0 ? Math.max(before, after) / own : Infinity;
  }
  const hfNoise = broadbandNoise(ecg, fsHz, peaks, wide);
  return { corrN, ampRatio, widthRatio, prematurity, pause, noise, hfNoise };
}

/** See BeatFeatures.hfNoise. */
function broadbandNoise(ecg: Float64Array, fsHz: number, peaks: Int32Array, wide: Windows): Float64Array {
  const nb = peaks.length;
  const out = new Float64Array(nb);
  if (nb === 0) return out;
  const smooth = movingAverage(ecg, Math.max(1, Math.round(0.025 * fsHz)));
  const qFrom = wide.pre - Math.round(0.06 * fsHz);
  const qTo = wide.pre + Math.round(0.06 * fsHz) + 1;
  const amps = new Float64Array(nb);
  for (let b = 0; b < nb; b++) amps[b] = peakToPeak(wide, b, qFrom, qTo);
  const amp = medianOf(amps);
  if (!(amp > 0)) return out;
  const guard = Math.round(0.12 * fsHz);
  const rms = (from: number, to: number): number => {
    let s = 0;
    for (let i = from; i < to; i++) {
      const d = ecg[i]! - smooth[i]!;
      s += d * d;
    }
    return to > from ? Math.sqrt(s / (to - from)) : 0;
  };
  const between = new Float64Array(nb + 1);
  for (let b = 1; b < nb; b++) between[b] = rms(peaks[b - 1]! + guard, peaks[b]! - guard);
  for (let b = 0; b < nb; b++) out[b] = Math.max(between[b]!, between[b + 1]!) / amp;
  return out;
}

/** How unlike a normal beat the shape is; ≥ 1 means clearly abnormal on at least one measure. */
function abnormality(f: BeatFeatures, b: number): number {
  return Math.max(
    (1 - f.corrN[b]!) / 0.25,
    Math.abs(Math.log(Math.max(f.ampRatio[b]!, 1e-3))) / Math.log(1.25),
    (f.widthRatio[b]! - 1) / 0.5,
  );
}

/** Above this noise index a beat's shape and timing are too unreliable to call it ventricular. */
const MAX_NOISE = 0.1;

/** Labels each beat (R-peak sample indices into signal at fsHz) N, S, V or Q; pass `features` to reuse detection's filtering. */
export function labelBeats(
  signal: Float64Array,
  fsHz: number,
  peaks: Int32Array,
  features: EcgFeatures = ecgFeatures(signal, fsHz),
): BeatLabel[] {
  return classifyBeats(features, fsHz, peaks).labels;
}

/** Labels with the evidence behind them (see labelBeats). */
export function classifyBeats(features: EcgFeatures, fsHz: number, peaks: Int32Array): BeatClassification {
  const nb = peaks.length;
  const labels: BeatLabel[] = new Array<BeatLabel>(nb).fill('N');
  // Shapes are compared on the ECG with 50 and 60 Hz notched out (where the rate allows): strong mains
  // hum left in the 0.5–40 Hz band would otherwise lower every beat's correlation with its template.
  const own = { ...features, ecg: notchMains(features.ecg, fsHz) };
  const f = beatFeatures(own, fsHz, peaks);
  const corrV = new Float64Array(nb).fill(NaN);
  const result = { ...f, labels, corrV };
  if (nb < 3) return result;
  const noisy = (b: number): boolean => f.noise[b]! >= MAX_NOISE || f.hfNoise[b]! >= MAX_HF_NOISE;

  // Candidates: abnormal shape, early, followed by a longer interval, and not buried in noise.
  const cand: number[] = [];
  for (let b = 1; b < nb; b++) {
    if (!noisy(b) && abnormality(f, b) >= 1 && f.prematurity[b]! < 0.88 && f.pause[b]! > 1.1) {
      cand.push(b);
    }
  }
  // Confirm against the candidates' own template: uniform PVCs match it, distorted normal beats do not.
  const wide = extractWindows(own.ecg, peaks, Math.round(0.1 * fsHz), Math.round(0.3 * fsHz));
  const vTpl = cand.length >= 3 ? medianTemplate(wide, cand) : null;
  if (vTpl) for (let b = 0; b < nb; b++) corrV[b] = pearson(wide.data, b * wide.len, vTpl, 0, wide.len);
  for (const b of cand) {
    if (!vTpl || corrV[b]! > 0.8 || abnormality(f, b) >= 2) labels[b] = 'V';
  }
  // Multiform PVCs: candidates left over form their own templates in turn (up to three more forms), each
  // confirmed the same way; distorted normal beats rarely agree with each other well enough.
  for (let form = 0; form < 3; form++) {
    const rest = cand.filter((b) => labels[b] !== 'V');
    if (rest.length < 3) break;
    const tpl = medianTemplate(wide, rest);
    let found = 0;
    for (const b of rest) {
      if (pearson(wide.data, b * wide.len, tpl, 0, wide.len) > 0.8) {
        labels[b] = 'V';
        found++;
      }
    }
    if (found === 0) break;
  }
  if (vTpl) {
    // PVCs without the usual timing (interpolated, or next to a noisy interval) are found by shape alone,
    // but only when they match the PVC template much better than the normal one.
    for (let b = 0; b < nb; b++) {
      if (labels[b] === 'V' || noisy(b) || abnormality(f, b) < 1) continue;
      if (corrV[b]! > 0.9 && corrV[b]! - f.corrN[b]! > 0.2) labels[b] = 'V';
    }
  }
  // Supraventricular premature beats: the normal shape, clearly early, and followed by a longer interval
  // (the sinus node resets). Not in an irregular rhythm (atrial fibrillation), where "early" means nothing.
  const irregular = rhythmIrregularity(peaks);
  for (let b = 1; b < nb - 1; b++) {
    if (labels[b] !== 'N' || noisy(b) || irregular[b]! > 0.1) continue;
    if (f.prematurity[b]! < S_PREMATURITY && f.pause[b]! > 1 && f.corrN[b]! >= 0.8 && abnormality(f, b) < 1.5) labels[b] = 'S';
  }
  // Beats whose surroundings are too noisy to judge shape or timing are unclassifiable, not normal: their
  // intervals must not enter the NN series.
  for (let b = 0; b < nb; b++) if (labels[b] !== 'V' && noisy(b)) labels[b] = 'Q';
  // A clearly abnormal shape that is neither the record's PVC nor a premature beat (fusion beats, a
  // second PVC form, aberrant conduction) is not called normal either: it is unclassifiable.
  // Only the correlation counts here: amplitude and width drift with posture and electrode contact.
  for (let b = 0; b < nb; b++) if (labels[b] === 'N' && f.corrN[b]! < UNCLASSIFIABLE_CORR) labels[b] = 'Q';
  return result;
}

/** Correlation with the normal template below which a beat that is not labelled V or S is not called N. */
const UNCLASSIFIABLE_CORR = 0.7;

/** A supraventricular premature beat comes at most at this fraction of the local cycle. */
const S_PREMATURITY = 0.85;

/** Above this broadband noise index (BeatFeatures.hfNoise) a beat is unclassifiable: muscle noise near 3 dB SNR. */
const MAX_HF_NOISE = 0.06;

/** The ECG (sampled at fsHz) with 50 and 60 Hz notched out, each where it lies below 0.45 fsHz. */
function notchMains(ecg: Float64Array, fsHz: number): Float64Array {
  let out = ecg;
  for (const hz of [50, 60]) if (hz < 0.45 * fsHz) out = filtfilt(notchFilter(hz, fsHz), out);
  return out;
}

/**
 * Local irregularity of the rhythm at each beat: median, over ±8 beats, of |successive interval change|
 * relative to the interval; ≈ 0.02–0.05 in sinus rhythm with a few ectopic beats, > 0.1 in atrial fibrillation.
 */
function rhythmIrregularity(peaks: Int32Array): Float64Array {
  const nb = peaks.length;
  const d = new Float64Array(nb);
  for (let b = 2; b < nb; b++) {
    const r1 = peaks[b - 1]! - peaks[b - 2]!;
    const r2 = peaks[b]! - peaks[b - 1]!;
    d[b] = Math.abs(r2 - r1) / Math.max(1, Math.min(r1, r2));
  }
  const out = new Float64Array(nb);
  const buf = new Float64Array(17);
  for (let b = 0; b < nb; b++) {
    const lo = Math.max(2, b - 8);
    const hi = Math.min(nb - 1, b + 8);
    let m = 0;
    for (let k = lo; k <= hi; k++) buf[m++] = d[k]!;
    out[b] = m > 0 ? medianOf(buf.subarray(0, m)) : 0;
  }
  return out;
}
