/**
 * ECG R-peak detection in the Pan–Tompkins family, in four stages:
 * 1. zero-phase filtering: a 10–25 Hz band for QRS energy (squared slope, 150 ms centred integration) —
 *    higher than Pan–Tompkins' 5–15 Hz, which on MIT-BIH 105 lets far more motion artefact through —
 *    and a 0.5–40 Hz band that keeps the QRS shape for localisation and labelling;
 * 2. adaptive signal and noise thresholds on the energy peaks, with a 200 ms refractory period, T-wave
 *    rejection by slope, search-back at half threshold after 1.66 mean intervals, and recovery from a
 *    threshold lock-out after a sudden loss of amplitude;
 * 3. R-wave localisation: the largest deflection (up or down) of the 0.5–40 Hz ECG near each energy
 *    peak, so the reported time is the R wave, not the integrator peak, and zero-phase filtering adds
 *    no delay;
 * 4. rhythm check: of two detections too close together, the one that breaks the rhythm and does not
 *    look like the record's QRS is dropped, which removes most noise detections without touching
 *    premature beats that are followed by a pause.
 */
import { HrvError } from './errors.js';
import { butterBandpass, filtfilt, movingAverage } from './filters.js';
import { pearson } from './correlation.js';

/** Supported sampling rates, Hz. */
export const ECG_MIN_FS_HZ = 125;
export const ECG_MAX_FS_HZ = 1000;
/** Shortest signal the detector accepts, s (the thresholds learn from the first seconds). */
export const ECG_MIN_DURATION_S = 2;

/** Tuning of the detector; the defaults suit adult resting and ambulatory ECG. */
export interface EcgDetectOptions {
  /** No second beat within this time of a beat, ms (default 200). */
  refractoryMs?: number;
}

/** Signals derived once and shared by detection and beat labelling. */
export interface EcgFeatures {
  /** ECG band-limited to 0.5–40 Hz (zero phase): baseline wander and mains hum removed, QRS shape kept. */
  ecg: Float64Array;
  /** QRS energy: squared slope of the 10–25 Hz band, integrated over 150 ms (centred, so it peaks on the QRS). */
  energy: Float64Array;
  /** Slope of the 10–25 Hz band, per sample. */
  slope: Float64Array;
}

function validate(signal: Float64Array, fsHz: number): void {
  if (!Number.isFinite(fsHz) || fsHz < ECG_MIN_FS_HZ || fsHz > ECG_MAX_FS_HZ) {
    throw new HrvError(
      'HRV_ERR_SAMPLING_RATE',
      `ECG sampling rate must be ${ECG_MIN_FS_HZ}–${ECG_MAX_FS_HZ} Hz, got ${fsHz}`,
    );
  }
  const minSamples = Math.ceil(ECG_MIN_DURATION_S * fsHz);
  if (signal.length < minSamples) {
    throw new HrvError(
      'HRV_ERR_TOO_SHORT',
      `ECG signal of ${(signal.length / fsHz).toFixed(2)} s is too short for beat detection (at least ${ECG_MIN_DURATION_S} s)`,
    );
  }
  for (let i = 0; i < signal.length; i++) {
    if (!Number.isFinite(signal[i]!)) {
      throw new HrvError('HRV_ERR_INPUT', `ECG sample ${i} is not a finite number (${signal[i]})`);
    }
  }
}

/** Computes the filtered ECG, QRS slope and QRS energy of a signal sampled at fsHz. */
export function ecgFeatures(signal: Float64Array, fsHz: number): EcgFeatures {
  validate(signal, fsHz);
  const ecg = filtfilt(butterBandpass(0.5, Math.min(40, 0.4 * fsHz), fsHz, 2), signal);
  const qrs = filtfilt(butterBandpass(10, 25, fsHz, 2), signal);
  const n = signal.length;
  const slope = new Float64Array(n);
  const sq = new Float64Array(n);
  for (let i = 1; i < n - 1; i++) {
    const d = (qrs[i + 1]! - qrs[i - 1]!) * 0.5;
    slope[i] = d;
    sq[i] = d * d;
  }
  const energy = movingAverage(sq, Math.max(1, Math.round(0.15 * fsHz)));
  return { ecg, energy, slope };
}

/** Sample index of the largest deflection of the ECG within [from, to], up or down from the window's baseline. */
function locateR(ecg: Float64Array, from: number, to: number): number {
  let maxI = from;
  let minI = from;
  for (let i = from + 1; i <= to; i++) {
    if (ecg[i]! > ecg[maxI]!) maxI = i;
    if (ecg[i]! < ecg[minI]!) minI = i;
  }
  // The baseline is the mean of the window's ends, which lie outside the QRS for a narrow complex.
  const base = (ecg[from]! + ecg[to]!) / 2;
  const up = ecg[maxI]! - base;
  const down = base - ecg[minI]!;
  return up >= down ? maxI : minI;
}

/** Sample indices of the R peaks of an ECG sampled at fsHz (125–1000 Hz, at least 2 s). */
export function detectEcgBeats(
  signal: Float64Array,
  fsHz: number,
  options: EcgDetectOptions = {},
): Int32Array {
  const features = ecgFeatures(signal, fsHz);
  return detectFromFeatures(features, fsHz, options);
}

/** Detection on precomputed features (see ecgFeatures); lets callers reuse the filtered signals. */
export function detectFromFeatures(
  features: EcgFeatures,
  fsHz: number,
  options: EcgDetectOptions = {},
): Int32Array {
  const { ecg, energy, slope } = features;
  const n = energy.length;
  const refractory = Math.round(((options.refractoryMs ?? 200) / 1000) * fsHz);
  if (!(refractory > 0))
    throw new HrvError('HRV_ERR_INPUT', `refractory period must be positive, got ${options.refractoryMs} ms`);
  const tWaveWindow = Math.round(0.36 * fsHz);
  const halfQrs = Math.round(0.075 * fsHz);

  // Candidates: local maxima of the energy that dominate ±100 ms, so ripples on one complex count once.
  // A complex cut by either end of the record cannot be located or labelled reliably, so it is skipped.
  const dom = Math.round(0.1 * fsHz);
  const cand: number[] = [];
  for (let i = Math.max(1, halfQrs); i < n - Math.max(1, halfQrs); i++) {
    const v = energy[i]!;
    if (!(v > energy[i - 1]! && v >= energy[i + 1]!)) continue;
    let isMax = true;
    const lo = Math.max(0, i - dom);
    const hi = Math.min(n - 1, i + dom);
    for (let j = lo; j <= hi; j++) {
      if (energy[j]! > v) {
        isMax = false;
        break;
      }
    }
    if (isMax) cand.push(i);
  }
  const nc = cand.length;
  const candSlope = new Float64Array(nc);
  for (let c = 0; c < nc; c++) {
    const i = cand[c]!;
    let m = 0;
    for (let j = Math.max(0, i - halfQrs); j <= Math.min(n - 1, i + halfQrs); j++)
      m = Math.max(m, Math.abs(slope[j]!));
    candSlope[c] = m;
  }

  // Learning phase over the first 8 s: the signal level starts at half the typical (median) per-second
  // maximum of the energy, which a single artefact cannot inflate; the noise level at half its mean.
  const sec = Math.round(fsHz);
  const learn = Math.min(n, 8 * sec);
  const seconds = Math.max(1, Math.floor(learn / sec));
  const secMax = new Float64Array(seconds);
  let mean = 0;
  for (let i = 0; i < learn; i++) {
    const v = energy[i]!;
    mean += v;
    const s = Math.min(seconds - 1, Math.floor(i / sec));
    if (v > secMax[s]!) secMax[s] = v;
  }
  mean /= learn;
  secMax.sort();
  let spk = 0.5 * secMax[seconds >> 1]!;
  let npk = 0.5 * mean;

  const beats: number[] = []; // candidate indices accepted as QRS
  let lastBeat = -Infinity; // sample of the last accepted QRS (energy peak)
  let lastSlope = 0;
  const rrHist: number[] = [];
  let rrAvg = fsHz; // samples; 60 bpm until learned

  /** Takes candidate c as a beat; the interval to the last beat joins the RR average unless it spans a lock-out. */
  const accept = (c: number, searchBack: boolean, countInterval = true): void => {
    const i = cand[c]!;
    const v = energy[i]!;
    // Clamp the update so one artefact cannot lift the threshold above every following beat.
    const vc = Math.min(v, 4 * spk);
    spk = searchBack ? 0.25 * vc + 0.75 * spk : 0.125 * vc + 0.875 * spk;
    if (lastBeat > -Infinity && countInterval) {
      rrHist.push(i - lastBeat);
      if (rrHist.length > 8) rrHist.shift();
      let s = 0;
      for (const r of rrHist) s += r;
      rrAvg = s / rrHist.length;
    }
    lastBeat = i;
    lastSlope = candSlope[c]!;
    beats.push(c);
  };

  let lastBeatCand = -1;
  /**
   * Recovery from a lock-out: after a sudden drop in amplitude (electrode, gain, posture) every QRS can
   * fall below even the search-back threshold. When nothing has been found for ≥ 3 s and 2.5 cycles, and
   * the strongest candidate of the silent stretch stands well out of its background (a QRS does, noise
   * does not), the levels are rescaled to it. Returns that candidate, or −1.
   */
  const relearn = (c: number, i: number): number => {
    if (i - lastBeat < Math.max(3 * sec, 2.5 * rrAvg)) return -1;
    let best = -1;
    for (let k = lastBeatCand + 1; k < c; k++) {
      const ik = cand[k]!;
      if (ik - lastBeat < refractory || i - ik < refractory) continue;
      if (best < 0 || energy[ik]! > energy[cand[best]!]!) best = k;
    }
    if (best < 0) return -1;
    const from = Math.max(0, lastBeat + refractory);
    const bg = energy.slice(from, i - refractory).sort();
    const background = bg[bg.length >> 1] ?? 0;
    const peak = energy[cand[best]!]!;
    if (!(peak > 8 * background)) return -1;
    npk *= peak / spk;
    spk = peak;
    // Resume from the earliest beat of the stretch at the new level; search-back then finds the rest.
    for (let k = lastBeatCand + 1; k < best; k++) {
      const ik = cand[k]!;
      if (ik - lastBeat >= refractory && energy[ik]! > 0.3 * peak) return k;
    }
    return best;
  };
  for (let c = 0; c < nc; c++) {
    const i = cand[c]!;
    const v = energy[i]!;
    const thr1 = npk + 0.25 * (spk - npk);
    // Search-back: too long since the last beat, so take the largest earlier candidate above the low threshold.
    while (lastBeat > -Infinity && i - lastBeat > 1.66 * rrAvg) {
      const thr2 = 0.5 * thr1;
      let best = -1;
      for (let k = lastBeatCand + 1; k < c; k++) {
        const ik = cand[k]!;
        if (ik - lastBeat < refractory || i - ik < refractory) continue;
        if (energy[ik]! > thr2 && (best < 0 || energy[ik]! > energy[cand[best]!]!)) best = k;
      }
      let relearned = false;
      if (best < 0) {
        best = relearn(c, i);
        relearned = best >= 0;
      }
      if (best < 0) break;
      accept(best, true, !relearned);
      lastBeatCand = best;
    }
    const sinceLast = i - lastBeat;
    if (v > thr1 && sinceLast > refractory) {
      if (sinceLast < tWaveWindow && candSlope[c]! < 0.5 * lastSlope) {
        npk = 0.125 * v + 0.875 * npk;
        continue;
      }
      accept(c, false);
      lastBeatCand = c;
    } else if (sinceLast <= refractory && lastBeatCand >= 0 && v > energy[cand[lastBeatCand]!]!) {
      // A stronger complex inside the refractory period: the beat just taken was most likely an artefact
      // just before the QRS (the two cannot both be beats), so the stronger one replaces it.
      beats.pop();
      rrHist.pop();
      const prev = beats.length > 0 ? beats[beats.length - 1]! : -1;
      lastBeat = prev >= 0 ? cand[prev]! : -Infinity;
      accept(c, false);
      lastBeatCand = c;
    } else if (sinceLast > refractory) {
      npk = 0.125 * v + 0.875 * npk;
    }
  }

  // R-wave localisation on the band-limited ECG around each energy peak.
  const half = Math.round(0.09 * fsHz);
  const out = new Int32Array(beats.length);
  let k = 0;
  for (let b = 0; b < beats.length; b++) {
    const i = cand[beats[b]!]!;
    const r = locateR(ecg, Math.max(0, i - half), Math.min(n - 1, i + half));
    if (k > 0 && r - out[k - 1]! < refractory / 2) continue;
    out[k++] = r;
  }
  return removeRhythmOutliers(out.slice(0, k), ecg, fsHz);
}

/** Normalised cross-correlation of x[at − half … at + half] with the template (length 2·half + 1). */
function ncc(x: Float64Array, at: number, tpl: Float64Array, half: number): number {
  const from = at - half;
  if (from < 0 || from + tpl.length > x.length) return 0;
  return pearson(x, from, tpl, 0, tpl.length);
}

/** Median of a[0..m) by insertion sort, which is fastest for the few dozen values used here (reorders a). */
function smallMedian(a: Float64Array, m: number): number {
  for (let i = 1; i < m; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= 0 && a[j]! > v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
  return a[m >> 1]!;
}

/** Per-sample median QRS template (±half samples) over at most 256 beats spread across the record. */
function qrsTemplate(peaks: Int32Array, ecg: Float64Array, half: number): Float64Array {
  const nb = peaks.length;
  const stride = Math.max(1, Math.ceil(nb / 256));
  const picks = Math.ceil(nb / stride);
  const col = new Float64Array(picks);
  const tpl = new Float64Array(2 * half + 1);
  for (let k = 0; k < tpl.length; k++) {
    for (let p = 0; p < picks; p++)
      col[p] = ecg[Math.min(ecg.length - 1, Math.max(0, peaks[p * stride]! - half + k))]!;
    col.sort();
    tpl[k] = col[picks >> 1]!;
  }
  return tpl;
}

/** Template correlation above which a detection is a QRS beyond doubt. */
const CLEAR_QRS = 0.95;

/**
 * Removes detections that break the rhythm in a way only noise does: of two beats closer than 70% of the
 * local cycle, one is dropped when dropping it leaves an ordinary interval (≤ 1.4 cycles) behind. A
 * premature beat with a compensatory pause (PVC, APC) is never removed that way, because removing
 * either beat of the pair leaves a gap of about two cycles. Between the two, the one that fits the
 * rhythm worse and resembles the typical QRS less goes.
 */
function removeRhythmOutliers(peaks: Int32Array, ecg: Float64Array, fsHz: number): Int32Array {
  const nb = peaks.length;
  if (nb < 8) return peaks;
  const half = Math.round(0.06 * fsHz);
  // QRS template (normal beats are the majority of any record) and each beat's best correlation with
  // it within ±3 samples; both only computed when a suspicious pair needs them.
  let tpl: Float64Array | null = null;
  const quality = new Float64Array(nb).fill(NaN);
  const qualityOf = (b: number): number => {
    if (Number.isNaN(quality[b]!)) {
      tpl ??= qrsTemplate(peaks, ecg, half);
      let best = -1;
      for (let s = -3; s <= 3; s++) best = Math.max(best, ncc(ecg, peaks[b]! + s, tpl, half));
      quality[b] = best;
    }
    return quality[b]!;
  };
  // Local cycle length: median, within ±16 beats, of the mean of each two consecutive intervals. Averaging
  // pairs gives the sinus cycle in bigeminy too (short + long), where the median interval is either.
  const w = 16;
  const cycle = new Float64Array(nb);
  const buf = new Float64Array(2 * w + 1);
  for (let b = 0; b < nb; b++) {
    const lo = Math.max(2, b - w);
    const hi = Math.min(nb - 1, b + w);
    let m = 0;
    for (let k = lo; k <= hi; k++) buf[m++] = (peaks[k]! - peaks[k - 2]!) / 2;
    cycle[b] = smallMedian(buf, m);
  }
  const keep = new Uint8Array(nb).fill(1);
  const prevKept = (b: number): number => {
    let k = b - 1;
    while (k >= 0 && !keep[k]) k--;
    return k;
  };
  const nextKept = (b: number): number => {
    let k = b + 1;
    while (k < nb && !keep[k]) k++;
    return k;
  };
  for (let b = 1; b < nb; b++) {
    if (!keep[b]) continue;
    const a = prevKept(b);
    if (a < 0) continue;
    const cyc = cycle[b]!;
    if (peaks[b]! - peaks[a]! >= 0.7 * cyc) continue;
    // Option 1: drop a (span from a's predecessor to b); option 2: drop b (span from a to b's successor).
    const aa = prevKept(a);
    const bb = nextKept(b);
    const spanA = aa >= 0 ? (peaks[b]! - peaks[aa]!) / cyc : NaN;
    const spanB = bb < nb ? (peaks[bb]! - peaks[a]!) / cyc : NaN;
    // A complex that matches the typical QRS closely is never taken for noise.
    const okA = spanA <= 1.4 && qualityOf(a) < CLEAR_QRS;
    const okB = spanB <= 1.4 && qualityOf(b) < CLEAR_QRS;
    if (!okA && !okB) continue;
    const costA = okA ? Math.abs(spanA - 1) + qualityOf(a) : Infinity;
    const costB = okB ? Math.abs(spanB - 1) + qualityOf(b) : Infinity;
    if (costA <= costB) keep[a] = 0;
    else keep[b] = 0;
  }
  let k = 0;
  const out = new Int32Array(nb);
  for (let b = 0; b < nb; b++) if (keep[b]) out[k++] = peaks[b]!;
  return out.slice(0, k);
}
