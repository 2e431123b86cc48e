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
 * 4. rhythm and shape check against the record's own QRS templates (normal, and its PVC form): a
 *    detection unlike both, between two beats like them, moves to a clear QRS 150–250 ms away when there
 *    is one (an artefact had taken its place); of two detections too close together, the one that breaks
 *    the rhythm and does not look like the record's QRS is dropped, which removes most noise detections
 *    without touching premature beats that are followed by a pause; and an interval too long for the
 *    rhythm is searched for a complex that matches a template well (a beat the thresholds missed).
 */
import { HrvError } from './errors.js';
import { butterBandpass, filtfiltPair, movingAverageInPlace, movingAverageInto, movingMeanSquare } from './filters.js';
import { pearson, pearsonWith, templateOf, type Template } from './correlation.js';

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
  /**
   * Detection energy: the larger of the 10–25 Hz QRS energy and the scaled energy of a low band (about
   * 2–12 Hz), so that wide, smooth QRS complexes (ventricular beats of 130 ms and more, whose 10–25 Hz
   * energy can be 5% of a normal beat's) still stand out. Same units as `energy`.
   */
  detEnergy: Float64Array;
  /** Typical QRS-band energy of a beat: the median of the per-second maxima of `energy`. */
  qrsLevel: number;
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

/** Median of the per-second maxima of x (a robust "typical beat" level that single artefacts cannot move). */
function typicalSecondMax(x: Float64Array, fsHz: number): number {
  const sec = Math.max(1, Math.round(fsHz));
  const m = Math.floor(x.length / sec);
  if (m === 0) return 0;
  const maxima = new Float64Array(m);
  for (let s = 0; s < m; s++) {
    // Four running maxima, so the comparisons do not wait on each other (the maximum is the same).
    let v0 = 0;
    let v1 = 0;
    let v2 = 0;
    let v3 = 0;
    const end = (s + 1) * sec;
    let i = s * sec;
    for (; i + 3 < end; i += 4) {
      v0 = Math.max(v0, x[i]!);
      v1 = Math.max(v1, x[i + 1]!);
      v2 = Math.max(v2, x[i + 2]!);
      v3 = Math.max(v3, x[i + 3]!);
    }
    for (; i < end; i++) v0 = Math.max(v0, x[i]!);
    maxima[s] = Math.max(v0, v1, v2, v3);
  }
  maxima.sort();
  return maxima[m >> 1]!;
}

/**
 * Weight of the low band in the detection energy, relative to a normal QRS: a normal complex reaches
 * half its 10–25 Hz energy in the low band, so the QRS band still decides for narrow complexes (and keeps
 * out most motion artefact), while a wide PVC, which has several times a normal beat's low-band energy,
 * is carried by the low band (up to a typical QRS's energy).
 */
const LOW_BAND_WEIGHT = 0.5;

/** Computes the filtered ECG, QRS slope and QRS energy of a signal sampled at fsHz. */
export function ecgFeatures(signal: Float64Array, fsHz: number): EcgFeatures {
  validate(signal, fsHz);
  // Both bands in one zero-phase sweep (filtfiltPair): the same numbers as two filtfilt calls, in about
  // half the time. Four full-length arrays in all, each reused in place below: at 30 minutes each is 5 MB,
  // and fresh memory (page faults, zeroing) costs as much as the arithmetic.
  const [ecg, qrs] = filtfiltPair(
    butterBandpass(0.5, Math.min(40, 0.4 * fsHz), fsHz, 2),
    butterBandpass(10, 25, fsHz, 2),
    signal,
  );
  const n = signal.length;
  // The slope of the QRS band, in place of the band itself (each sample needs the original neighbours).
  const slope = qrs;
  let prev = qrs[0]!;
  for (let i = 1; i < n - 1; i++) {
    const cur = qrs[i]!;
    slope[i] = (qrs[i + 1]! - prev) * 0.5;
    prev = cur;
  }
  slope[0] = 0;
  slope[n - 1] = 0;
  const integ = Math.max(1, Math.round(0.15 * fsHz));
  const energy = movingMeanSquare(slope, integ);
  // Low band without another recursive filter (detection time matters): the 0.5–40 Hz ECG smoothed over
  // 40 ms (a zero near 25 Hz) and differenced over ±20 ms, a band-pass peaking near 8–10 Hz. Its square
  // and then its integration are computed in place in the array that ends up holding detEnergy.
  const detEnergy = movingAverageInto(ecg, Math.max(1, Math.round(0.04 * fsHz)), new Float64Array(n));
  const h = Math.max(1, Math.round(0.02 * fsHz));
  const behind = new Float64Array(h); // the smoothed ECG at i − h, which step i − h overwrote
  for (let i = 0, slot = 0; i < n; i++) {
    const smoothed = detEnergy[i]!;
    if (i >= h && i < n - h) {
      const d = (detEnergy[i + h]! - behind[slot]!) / (2 * h);
      detEnergy[i] = d * d;
    } else detEnergy[i] = 0;
    behind[slot] = smoothed;
    if (++slot === h) slot = 0;
  }
  const lowEnergy = movingAverageInPlace(detEnergy, integ);
  const hiLevel = typicalSecondMax(energy, fsHz);
  const loLevel = typicalSecondMax(lowEnergy, fsHz);
  const k = loLevel > 0 ? (LOW_BAND_WEIGHT * hiLevel) / loLevel : 0;
  // The low band can lift a complex towards the energy of a typical QRS but not above it (a smooth
  // saturation, so the peak stays where it is): a wide PVC then counts as an ordinary beat instead of
  // raising the signal level above the normal beats after it (MIT-BIH 228, 801).
  for (let i = 0; i < n; i++) {
    const low = k * lowEnergy[i]!; // lowEnergy is detEnergy: each sample is read before it is replaced
    detEnergy[i] = Math.max(energy[i]!, hiLevel > 0 ? (low * hiLevel) / (low + hiLevel) : 0);
  }
  return { ecg, energy, slope, detEnergy, qrsLevel: hiLevel };
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
  // Thresholds run on the two-band energy; the T-wave test keeps the QRS band's slope, in which a T wave
  // (however large in the low band) is slow.
  const { ecg, detEnergy: energy, slope } = features;
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
  const candQrsEnergy = new Float64Array(nc);
  for (let c = 0; c < nc; c++) {
    const i = cand[c]!;
    let m = 0;
    let e = 0;
    for (let j = Math.max(0, i - halfQrs); j <= Math.min(n - 1, i + halfQrs); j++) {
      m = Math.max(m, Math.abs(slope[j]!));
      e = Math.max(e, features.energy[j]!);
    }
    candSlope[c] = m;
    candQrsEnergy[c] = e;
  }

  /**
   * One pass of adaptive thresholding over the candidates; returns the indices of those taken as beats.
   * With `score` (each candidate's correlation with the record's own QRS templates, normal or PVC), the
   * choice between two complexes too close to both be beats goes to the one shaped like a QRS, not to
   * the one with more energy, so a sharp artefact next to a beat no longer replaces it.
   */
  const thresholdPass = (score: ((c: number) => number) | null): number[] => {
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
     * Whether candidate c, soon after the last beat, is that beat's T wave: slower than the QRS in the QRS
     * band, or, for a wide PVC's T wave (slow in both bands, strong in the low one), almost no QRS-band
     * energy and no QRS shape, which a premature QRS, even a wide one, has.
     */
    const tLike = (c: number): boolean =>
      candSlope[c]! < 0.5 * lastSlope ||
      (score !== null && score(c) < 0.7 && candQrsEnergy[c]! < 0.1 * features.qrsLevel);
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
        if (ik - lastBeat < tWaveWindow && tLike(k)) continue;
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
        if (ik - lastBeat < tWaveWindow && tLike(k)) continue;
        if (ik - lastBeat >= refractory && energy[ik]! > 0.3 * peak) return k;
      }
      return best;
    };
    /** Replaces the last beat by candidate c: the two cannot both be beats. */
    const replaceLast = (c: number): void => {
      beats.pop();
      rrHist.pop();
      const prev = beats.length > 0 ? beats[beats.length - 1]! : -1;
      lastBeat = prev >= 0 ? cand[prev]! : -Infinity;
      accept(c, false);
      lastBeatCand = c;
    };
    /**
     * Shape verdict between candidate c and the last beat: +1 when c is clearly the more QRS-like, −1 when
     * clearly the less, 0 when shape cannot tell (no templates yet, or similar scores). Asked only for close
     * calls, so only they cost a correlation.
     */
    const shapeVerdict = (c: number, last: number): number => {
      if (!score || last < 0) return 0;
      const sc = score(c);
      const sl = score(last);
      return sc > sl + SHAPE_MARGIN ? 1 : sc < sl - SHAPE_MARGIN ? -1 : 0;
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
          if (ik - lastBeat < tWaveWindow && tLike(k)) continue;
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
      const last = lastBeatCand;
      if (v > thr1 && sinceLast > refractory) {
        if (sinceLast < tWaveWindow && tLike(c)) {
          // Slow for a QRS this soon after a beat, so a T wave — unless the "beat" was a sharp artefact
          // and this is a complex shaped like the record's QRS, which then takes its place.
          if (score && shapeVerdict(c, last) > 0 && score(c) >= 0.8 && score(last) < 0.6) {
            replaceLast(c);
            continue;
          }
          npk = 0.125 * v + 0.875 * npk;
          continue;
        }
        accept(c, false);
        lastBeatCand = c;
      } else if (sinceLast <= refractory && last >= 0) {
        // Two complexes inside the refractory period cannot both be beats: the one shaped like a QRS
        // stays; when shape cannot tell, the stronger (the first was most likely an artefact just before
        // the QRS).
        const shape = shapeVerdict(c, last);
        if (shape > 0 ? v > 0.5 * thr1 : shape === 0 && v > energy[cand[last]!]!) replaceLast(c);
      } else if (sinceLast > refractory) {
        npk = 0.125 * v + 0.875 * npk;
      }
    }

    return beats;
  };

  // First pass by energy alone; its beats give the record's QRS templates, and the second pass decides
  // close calls by shape.
  const first = thresholdPass(null);
  const half = Math.round(0.09 * fsHz);
  const candR = new Int32Array(nc);
  for (let c = 0; c < nc; c++) {
    const i = cand[c]!;
    candR[c] = locateR(ecg, Math.max(0, i - half), Math.min(n - 1, i + half));
  }
  const score = candidateScores(candR, first, ecg, fsHz);
  const beats = score ? thresholdPass(score) : first;

  // R-wave localisation on the band-limited ECG around each energy peak.
  const out = new Int32Array(beats.length);
  let k = 0;
  for (let b = 0; b < beats.length; b++) {
    const r = candR[beats[b]!]!;
    if (k > 0 && r - out[k - 1]! < refractory / 2) continue;
    out[k++] = r;
  }
  return removeRhythmOutliers(out.slice(0, k), ecg, fsHz);
}

/** Normalised cross-correlation of x[at − half … at + half] with the template (length 2·half + 1). */
function ncc(x: Float64Array, at: number, tpl: Template, half: number): number {
  const from = at - half;
  if (from < 0 || from + tpl.len > x.length) return 0;
  return pearsonWith(x, from, tpl);
}

/** Shifts (samples) over which a beat's best template correlation is taken, nearest first. */
const SHIFTS_2 = [0, -1, 1, -2, 2] as const;
const SHIFTS_3 = [0, -1, 1, -2, 2, -3, 3] as const;

/**
 * Each beat's best correlation with a template over a few shifts (at least −1), computed lazily and
 * kept: a threshold test stops at the first shift that passes it, and only a value asked for in full
 * costs every shift. Results are those of the plain maximum over all shifts.
 */
class ShiftedCorrelation {
  private readonly best: Float64Array;
  private readonly next: Uint8Array;
  constructor(
    private readonly ecg: Float64Array,
    private readonly peaks: Int32Array,
    private readonly tpl: Template,
    private readonly half: number,
    private readonly shifts: readonly number[],
  ) {
    this.best = new Float64Array(peaks.length).fill(-1);
    this.next = new Uint8Array(peaks.length);
  }

  /** Whether beat b's best correlation reaches thr. */
  atLeast(b: number, thr: number): boolean {
    if (this.best[b]! >= thr) return true;
    while (this.next[b]! < this.shifts.length) {
      this.step(b);
      if (this.best[b]! >= thr) return true;
    }
    return false;
  }

  /** Beat b's best correlation. */
  value(b: number): number {
    while (this.next[b]! < this.shifts.length) this.step(b);
    return this.best[b]!;
  }

  private step(b: number): void {
    const s = this.shifts[this.next[b]!++]!;
    this.best[b] = Math.max(this.best[b]!, ncc(this.ecg, this.peaks[b]! + s, this.tpl, this.half));
  }
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

/** Local cycle length of each beat, samples: median, within ±16 beats, of the mean of each two consecutive intervals. */
function localCycle(peaks: Int32Array): Float64Array {
  // Averaging pairs gives the sinus cycle in bigeminy too (short + long), where the median interval is either.
  // The window's values are kept sorted as it slides (one value in, one out per beat).
  const nb = peaks.length;
  const w = 16;
  const cycle = new Float64Array(nb);
  const sorted = new Float64Array(2 * w + 2);
  const pairMean = (k: number): number => (peaks[k]! - peaks[k - 2]!) / 2;
  let m = 0;
  let from = 2; // window [from, to] of pair indices held in `sorted`
  let to = 1;
  for (let b = 0; b < nb; b++) {
    const lo = Math.max(2, b - w);
    const hi = Math.min(nb - 1, b + w);
    while (to < hi) {
      const v = pairMean(++to);
      let j = m++;
      while (j > 0 && sorted[j - 1]! > v) {
        sorted[j] = sorted[j - 1]!;
        j--;
      }
      sorted[j] = v;
    }
    while (from < lo && from <= to) {
      const v = pairMean(from++);
      let j = 0;
      while (sorted[j] !== v) j++;
      sorted.copyWithin(j, j + 1, m--);
    }
    cycle[b] = m > 0 ? sorted[m >> 1]! : NaN;
  }
  return cycle;
}

/** Best correlation of the ECG around `at` (±2 samples) with a ±half template. */
function bestNcc(ecg: Float64Array, at: number, tpl: Template, half: number): number {
  let best = -1;
  for (let s = -2; s <= 2; s++) best = Math.max(best, ncc(ecg, at + s, tpl, half));
  return best;
}

/**
 * Each candidate's likeness to the record's QRS (a function of the candidate index): its best correlation
 * with the normal template or the PVC template (see ectopicTemplate), both built from the beats of a first
 * pass (candR: each candidate's R sample, first: candidates taken as beats). Null when the first pass found
 * too few beats.
 */
function candidateScores(candR: Int32Array, first: number[], ecg: Float64Array, fsHz: number): ((c: number) => number) | null {
  const list: number[] = [];
  for (const c of first) if (list.length === 0 || candR[c]! > list[list.length - 1]!) list.push(candR[c]!);
  if (list.length < 8) return null;
  const peaks = Int32Array.from(list);
  const half = Math.round(0.06 * fsHz);
  const tplN = templateOf(qrsTemplate(peaks, ecg, half));
  const qualityN = new ShiftedCorrelation(ecg, peaks, tplN, half, SHIFTS_2);
  const normalCycle = cleanCycle(peaks, (b) => qualityN.atLeast(b, 0.9), localCycle(peaks));
  const v = ectopicTemplate(peaks, ecg, half, (b) => !qualityN.atLeast(b, 0.9), normalCycle);
  const tplV = v ? templateOf(v) : null;
  // Computed on demand and cached: only close calls need a score, and correlating every candidate with
  // two templates would cost more than the rest of the detection.
  const score = new Float64Array(candR.length).fill(NaN);
  return (c: number): number => {
    if (Number.isNaN(score[c]!)) {
      const r = candR[c]!;
      let v = bestNcc(ecg, r, tplN, half);
      if (tplV && v < CLEAR_QRS) v = Math.max(v, bestNcc(ecg, r, tplV, half));
      score[c] = v;
    }
    return score[c]!;
  };
}

/**
 * The record's own ectopic (usually PVC) template: among beats that do not resemble the normal template
 * closely (`poor`: best correlation < 0.9), the largest group of mutually similar complexes (correlation > 0.85 with one
 * central member), kept only when it is a real rhythm feature rather than a run of similar artefacts:
 * at least 3 members, and, taken over the group, the two intervals around a member add up to clearly more
 * than one cycle (a premature beat keeps its compensatory or partial pause; an artefact merely splits an
 * interval in two). Returns null when there is no such group.
 */
function ectopicTemplate(
  peaks: Int32Array,
  ecg: Float64Array,
  half: number,
  poorMatch: (b: number) => boolean,
  cycle: Float64Array,
): Float64Array | null {
  const nb = peaks.length;
  const len = 2 * half + 1;
  const poor: number[] = [];
  for (let b = 1; b < nb - 1; b++) {
    const p = peaks[b]!;
    if (p - half < 0 || p + half >= ecg.length) continue;
    if (poorMatch(b)) poor.push(b);
  }
  if (poor.length < 3) return null;
  // At most 80 of them, evenly spread: enough to find a group that makes up a fair share of the record.
  const stride = Math.max(1, Math.ceil(poor.length / 80));
  const sample: number[] = [];
  for (let i = 0; i < poor.length; i += stride) sample.push(poor[i]!);
  const m = sample.length;
  const near: number[][] = sample.map(() => []);
  for (let i = 0; i < m; i++) {
    for (let j = i + 1; j < m; j++) {
      const c = pearson(ecg, peaks[sample[i]!]! - half, ecg, peaks[sample[j]!]! - half, len);
      if (c > 0.85) {
        near[i]!.push(j);
        near[j]!.push(i);
      }
    }
  }
  // Groups in decreasing size (a central member and its close matches, taken out in turn); the first
  // that is wide enough for a QRS and timed like a premature beat is the record's ectopic morphology.
  const taken = new Uint8Array(m);
  for (let round = 0; round < 3; round++) {
    let best = -1;
    let bestSize = 0;
    for (let i = 0; i < m; i++) {
      if (taken[i]) continue;
      let size = 0;
      for (const j of near[i]!) if (!taken[j]) size++;
      if (best < 0 || size > bestSize) {
        best = i;
        bestSize = size;
      }
    }
    if (best < 0 || bestSize + 1 < 3) return null;
    const idx = [best, ...near[best]!.filter((j) => !taken[j])];
    for (const i of idx) taken[i] = 1;
    const members = idx.map((i) => sample[i]!);
    const tpl = new Float64Array(len);
    const col = new Float64Array(members.length);
    for (let k = 0; k < len; k++) {
      members.forEach((b, i) => (col[i] = ecg[peaks[b]! - half + k]!));
      tpl[k] = smallMedian(col, members.length);
    }
    if (halfAmplitudeWidth(tpl) < 0.5 * half) continue; // main deflection under ~30 ms: a spike, not a PVC
    // Timing of the group: premature beats come at a steady coupling interval (low spread of the
    // preceding interval over the cycle) or leave a pause behind (the two intervals around them add up
    // to more than a cycle); artefacts land anywhere in the cycle and only split an interval.
    const coupling = new Float64Array(members.length);
    let longSpans = 0;
    members.forEach((b, k) => {
      coupling[k] = (peaks[b]! - peaks[b - 1]!) / cycle[b]!;
      if ((peaks[b + 1]! - peaks[b - 1]!) / cycle[b]! > 1.05) longSpans++;
    });
    coupling.sort();
    const q = (f: number) => coupling[Math.min(members.length - 1, Math.floor(f * members.length))]!;
    const steady = q(0.75) - q(0.25) < 0.15 && q(0.5) < 0.9;
    if (steady || longSpans >= 0.5 * members.length) return tpl;
  }
  return null;
}

/** Number of samples where |x − median(x)| exceeds half its maximum (the width of the main deflection). */
function halfAmplitudeWidth(x: Float64Array): number {
  const med = smallMedian(Float64Array.from(x), x.length);
  let mx = 0;
  for (const v of x) mx = Math.max(mx, Math.abs(v - med));
  let w = 0;
  for (const v of x) if (Math.abs(v - med) > 0.5 * mx) w++;
  return w;
}

/**
 * Difference of template correlation that settles which of two close complexes is the QRS. Small: a
 * spike can correlate 0.8–0.9 with a narrow QRS template, a real QRS 0.95–1, and that gap is the signal.
 */
const SHAPE_MARGIN = 0.05;

/** Template correlation below which (for both the normal and the PVC template) a detection is shaped like an artefact. */
const ARTEFACT_SHAPE = 0.5;

/** Template correlation above which a detection is a QRS beyond doubt. */
const CLEAR_QRS = 0.95;

/**
 * The record's QRS templates — the normal one (normal beats are the majority of any record) and its PVC
 * form when it has one (see ectopicTemplate) — and each beat's best correlation with them within ±3
 * samples, all computed lazily: only the beats a decision asks about cost a correlation.
 */
class BeatShapes {
  private normalQ: ShiftedCorrelation | null = null;
  private ectopicQ: ShiftedCorrelation | null | undefined;
  private tplN: Template | null = null;
  private tplV: Template | null | undefined;
  private cycle: Float64Array | null = null;
  constructor(
    readonly peaks: Int32Array,
    readonly ecg: Float64Array,
    readonly half: number,
  ) {}

  /** Local cycle of each beat (localCycle), samples. */
  localCycle(): Float64Array {
    return (this.cycle ??= localCycle(this.peaks));
  }

  templateN(): Template {
    return (this.tplN ??= templateOf(qrsTemplate(this.peaks, this.ecg, this.half)));
  }

  templateV(): Template | null {
    if (this.tplV === undefined) {
      const normalCycle = cleanCycle(this.peaks, (b) => this.normal().atLeast(b, 0.9), this.localCycle());
      const v = ectopicTemplate(this.peaks, this.ecg, this.half, (b) => !this.normal().atLeast(b, 0.9), normalCycle);
      this.tplV = v ? templateOf(v) : null;
    }
    return this.tplV;
  }

  normal(): ShiftedCorrelation {
    return (this.normalQ ??= new ShiftedCorrelation(this.ecg, this.peaks, this.templateN(), this.half, SHIFTS_3));
  }

  ectopic(): ShiftedCorrelation | null {
    if (this.ectopicQ === undefined) {
      const v = this.templateV();
      this.ectopicQ = v ? new ShiftedCorrelation(this.ecg, this.peaks, v, this.half, SHIFTS_3) : null;
    }
    return this.ectopicQ;
  }

  /** Best correlation of beat b with the normal template. */
  quality(b: number): number {
    return this.normal().value(b);
  }

  /** A complex that matches the typical QRS, or the record's PVCs, closely: never taken for noise. */
  protectedBeat(b: number): boolean {
    if (this.normal().atLeast(b, CLEAR_QRS)) return true;
    return this.ectopic()?.atLeast(b, CLEAR_QRS) ?? false;
  }

  /** Whether beat b, not a clear normal QRS, matches the PVC template to at least thr. */
  vShapeAtLeast(b: number, thr: number): boolean {
    return !this.normal().atLeast(b, CLEAR_QRS) && (this.ectopic()?.atLeast(b, thr) ?? false);
  }

  /** Whether beat b matches either template to at least thr. */
  shapeAtLeast(b: number, thr: number): boolean {
    return this.normal().atLeast(b, thr) || (this.ectopic()?.atLeast(b, thr) ?? false);
  }

  /** Best correlation with either template of the ECG centred at sample `at` (no shift search). */
  shapeAt(at: number): number {
    const v = this.templateV();
    const n = ncc(this.ecg, at, this.templateN(), this.half);
    return v ? Math.max(n, ncc(this.ecg, at, v, this.half)) : n;
  }
}

/**
 * Removes detections that break the rhythm in a way only noise does: of two beats closer than 70% of the
 * local cycle, one is dropped when dropping it leaves an ordinary interval (≤ 1.4 cycles) behind. A
 * premature beat with a compensatory pause (PVC, APC) is never removed that way, because removing
 * either beat of the pair leaves a gap of about two cycles. Between the two, the one that fits the
 * rhythm worse and resembles the typical QRS less goes.
 */
function removeRhythmOutliers(found: Int32Array, ecg: Float64Array, fsHz: number): Int32Array {
  if (found.length < 8) return found;
  const half = Math.round(0.06 * fsHz);
  const peaks = relocateByShape(found, ecg, fsHz, half);
  const nb = peaks.length;
  const shapes = new BeatShapes(peaks, ecg, half);
  const qualityOf = (b: number): number => shapes.quality(b);
  const protectedBeat = (b: number): boolean => shapes.protectedBeat(b);
  const cycle = shapes.localCycle();
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
    // A complex that matches the typical QRS, or the record's PVCs, closely is never taken for noise.
    const okA = spanA <= 1.4 && !protectedBeat(a);
    const okB = spanB <= 1.4 && !protectedBeat(b);
    if (!okA && !okB) continue;
    const costA = okA ? Math.abs(spanA - 1) + qualityOf(a) : Infinity;
    const costB = okB ? Math.abs(spanB - 1) + qualityOf(b) : Infinity;
    if (costA <= costB) keep[a] = 0;
    else keep[b] = 0;
  }
  // Detections shaped like neither the normal QRS nor the record's PVCs (a spike, a motion transient)
  // whose removal leaves an interval the rhythm allows (at most 1.5 local cycles, or a PVC's compensatory
  // pause) are artefacts, even when they are not close to a beat. A real beat of an unusual
  // form is kept by its timing: removing it leaves a gap of about two cycles.
  for (let b = 1; b < nb - 1; b++) {
    if (!keep[b] || shapes.shapeAtLeast(b, ARTEFACT_SHAPE)) continue;
    const a = prevKept(b);
    const c = nextKept(b);
    if (a < 0 || c >= nb) continue;
    // After a PVC-shaped beat the interval that removal leaves is its compensatory pause (≈ 1.4–1.7 cycles).
    const allowed = shapes.vShapeAtLeast(a, 0.9) ? 1.8 : 1.5;
    if ((peaks[c]! - peaks[a]!) / cycle[b]! <= allowed) keep[b] = 0;
  }
  let k = 0;
  const out = new Int32Array(nb);
  for (let b = 0; b < nb; b++) if (keep[b]) out[k++] = peaks[b]!;
  return rescueMissed(out.slice(0, k), ecg, fsHz, half);
}

/**
 * Local cycle of each beat (see localCycle) from the pair means whose three beats are all `good`, so
 * that artefact detections, which split intervals, do not shorten it: median of those within ±16 beats,
 * or the plain local cycle (`plain`) where fewer than 4 of them are in reach (a stretch where noise leaves
 * few clean beats).
 */
function cleanCycle(peaks: Int32Array, good: (b: number) => boolean, plain: Float64Array): Float64Array {
  const nb = peaks.length;
  const w = 16;
  const ok = new Uint8Array(nb);
  for (let b = 0; b < nb; b++) ok[b] = good(b) ? 1 : 0;
  const cycle = new Float64Array(nb);
  const buf = new Float64Array(2 * w + 1);
  for (let b = 0; b < nb; b++) {
    let m = 0;
    for (let k = Math.max(2, b - w); k <= Math.min(nb - 1, b + w); k++) {
      if (ok[k] && ok[k - 1] && ok[k - 2]) buf[m++] = (peaks[k]! - peaks[k - 2]!) / 2;
    }
    cycle[b] = m >= 4 ? smallMedian(buf, m) : plain[b]!;
  }
  return cycle;
}

/** A detection whose best correlation with both templates is below this may sit on an artefact beside the QRS. */
const RELOCATE_BELOW = 0.85;

/** Correlation with a template at which a complex found by shape alone is taken as a QRS. */
const FOUND_BY_SHAPE = 0.9;

/** Fraction of the typical QRS's peak-to-peak amplitude a complex found by shape alone must have. */
const MIN_AMPLITUDE = 0.7;

/** Peak-to-peak amplitude of x within ±half samples of `at`. */
function peakToPeak(x: Float64Array, at: number, half: number): number {
  let mn = Infinity;
  let mx = -Infinity;
  for (let i = Math.max(0, at - half); i <= Math.min(x.length - 1, at + half); i++) {
    const v = x[i]!;
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  return mx - mn;
}

/**
 * The position in [lo, hi] where the ECG looks most like one of the record's QRS complexes: the template
 * correlation is evaluated at the ECG's local extrema (where a template centred on an R peak fits) and
 * refined ±2 samples around the best. Returns [sample, correlation], or [−1, −1] when nothing qualifies:
 * a match needs MIN_AMPLITUDE of the typical QRS's peak-to-peak amplitude (a T or P wave seldom has it).
 */
function bestShapeIn(shapes: BeatShapes, lo: number, hi: number): [number, number] {
  const ecg = shapes.ecg;
  const half = shapes.half;
  lo = Math.max(lo, half + 1);
  hi = Math.min(hi, ecg.length - half - 2);
  const tpl = shapes.templateN().data;
  let tMin = Infinity;
  let tMax = -Infinity;
  for (const v of tpl) {
    tMin = Math.min(tMin, v);
    tMax = Math.max(tMax, v);
  }
  const minAmp = MIN_AMPLITUDE * (tMax - tMin);
  let best = -1;
  let at = -1;
  for (let i = lo; i <= hi; i++) {
    const v = ecg[i]!;
    const ext = (v >= ecg[i - 1]! && v > ecg[i + 1]!) || (v <= ecg[i - 1]! && v < ecg[i + 1]!);
    if (!ext) continue;
    const c = shapes.shapeAt(i);
    if (c > best) {
      best = c;
      at = i;
    }
  }
  if (at < 0) return [-1, -1];
  const centre = at;
  for (let s = -2; s <= 2; s++) {
    const i = centre + s;
    if (s === 0 || i < lo || i > hi) continue;
    const c = shapes.shapeAt(i);
    if (c > best) {
      best = c;
      at = i;
    }
  }
  if (!(peakToPeak(ecg, at, half) >= minAmp)) return [-1, -1];
  return [at, best];
}

/**
 * A detection shaped like neither template, between two beats that are, may be an artefact that took the
 * place of the QRS beside it (inside the refractory period, or merged with it in the 150 ms integrated
 * energy, so the QRS was never a candidate): when a complex that matches a template beyond doubt
 * (≥ CLEAR_QRS) lies 150–250 ms away, not within 200 ms of the neighbouring beats, the detection moves there.
 */
function relocateByShape(peaks: Int32Array, ecg: Float64Array, fsHz: number, half: number): Int32Array {
  const nb = peaks.length;
  const shapes = new BeatShapes(peaks, ecg, half);
  const reach = Math.round(0.25 * fsHz);
  const same = Math.round(0.15 * fsHz); // closer than this it is the same complex, located differently
  const apart = Math.round(0.2 * fsHz);
  let out: Int32Array | null = null;
  for (let b = 0; b < nb; b++) {
    if (shapes.shapeAtLeast(b, RELOCATE_BELOW)) continue;
    // Only between two beats of the record's own shapes: where the neighbours are unusual too (a
    // ventricular tachycardia, multiform ectopy) shape says nothing about which complex is the beat.
    if (b === 0 || b === nb - 1 || !shapes.shapeAtLeast(b - 1, CLEAR_QRS) || !shapes.shapeAtLeast(b + 1, CLEAR_QRS)) continue;
    const p = peaks[b]!;
    const lo = Math.max(p - reach, b > 0 ? (out ?? peaks)[b - 1]! + apart : 0);
    const hi = Math.min(p + reach, b < nb - 1 ? peaks[b + 1]! - apart : ecg.length - 1);
    const [at, corr] = bestShapeIn(shapes, lo, hi);
    if (at < 0 || corr < CLEAR_QRS || Math.abs(at - p) <= same) continue;
    // The rhythm must agree: the interval from the previous beat moves towards the interval of the same
    // parity two beats earlier (so alternating rhythms such as bigeminy count as regular).
    if (b < 3) continue;
    const prev = (out ?? peaks)[b - 1]!;
    const like = peaks[b - 2]! - peaks[b - 3]!;
    if (!(Math.abs(at - prev - like) < Math.abs(p - prev - like))) continue;
    out ??= Int32Array.from(peaks);
    out[b] = at;
  }
  return out ?? peaks;
}

/**
 * Beats missed between two detections (an artefact took their place and was then removed, or noise
 * raised the thresholds): in an interval longer than the rhythm allows (1.5 local cycles, or 1.8 after a
 * PVC-shaped beat) between two template-like beats, the complex that matches a template best, if it
 * matches well (FOUND_BY_SHAPE) and is tall enough (MIN_AMPLITUDE), is a beat.
 */
function rescueMissed(peaks: Int32Array, ecg: Float64Array, fsHz: number, half: number): Int32Array {
  if (peaks.length < 8) return peaks;
  const shapes = new BeatShapes(peaks, ecg, half);
  const cycle = shapes.localCycle();
  const apart = Math.round(0.25 * fsHz);
  const found: number[] = [];
  for (let b = 1; b < peaks.length; b++) {
    const a = b - 1;
    const allowed = shapes.vShapeAtLeast(a, 0.9) ? 1.8 : 1.5;
    if (peaks[b]! - peaks[a]! <= allowed * cycle[b]!) continue;
    // Only between two beats of the record's own shapes: a gap bounded by unusual complexes (noise, a
    // ventricular tachycardia) says nothing reliable about the rhythm.
    if (!shapes.shapeAtLeast(a, FOUND_BY_SHAPE) || !shapes.shapeAtLeast(b, FOUND_BY_SHAPE)) continue;
    const [at, corr] = bestShapeIn(shapes, peaks[a]! + apart, peaks[b]! - apart);
    if (at >= 0 && corr >= FOUND_BY_SHAPE) found.push(at);
  }
  if (found.length === 0) return peaks;
  const out = Int32Array.from([...peaks, ...found]);
  return out.sort();
}
