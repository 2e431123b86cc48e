/**
 * Scoring of a beat detector against reference annotations: one-to-one matching within a tolerance, as
 * in ANSI/AAMI EC57 beat-by-beat comparison. Unit-agnostic: pass times in samples, ms or s, and the
 * tolerance in the same unit.
 */
import { HrvError } from './errors.js';

/** Result of matching detections to reference beats. */
export interface BeatMatch {
  /** Reference beats with a detection within the tolerance (true positives). */
  tp: number;
  /** Reference beats left without a detection (missed beats). */
  fn: number;
  /** Detections left without a reference beat (false detections). */
  fp: number;
  /** tp / (tp + fn); NaN with no reference beats. */
  sensitivity: number;
  /** Positive predictivity tp / (tp + fp); NaN with no detections. */
  ppv: number;
  /** For each reference beat, the index of its matched detection, or −1. */
  refToDet: Int32Array;
  /** For each detection, the index of its matched reference beat, or −1. */
  detToRef: Int32Array;
  /** detected − reference for each matched pair, in reference order, in the input's unit. */
  offsets: Float64Array;
}

function checkSorted(name: string, t: ArrayLike<number>): void {
  for (let i = 0; i < t.length; i++) {
    const v = t[i]!;
    if (!Number.isFinite(v)) throw new HrvError('HRV_ERR_INPUT', `${name}[${i}] is not a finite number`);
    if (i > 0 && v < t[i - 1]!)
      throw new HrvError('HRV_ERR_INPUT', `${name} must be sorted: item ${i} goes back in time`);
  }
}

/**
 * Matches detections to reference beats one-to-one within ±tolerance (same unit as the times). Pairs are
 * taken closest first, so a detection between two reference beats goes to the nearer one and a reference
 * beat never claims two detections.
 */
export function matchBeats(
  reference: ArrayLike<number>,
  detected: ArrayLike<number>,
  tolerance: number,
): BeatMatch {
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new HrvError('HRV_ERR_INPUT', `matching tolerance must be a non-negative number, got ${tolerance}`);
  }
  checkSorted('reference', reference);
  checkSorted('detected', detected);
  const nr = reference.length;
  const nd = detected.length;
  // Candidate pairs within the tolerance, found by a sliding window over the sorted detections.
  const pairRef: number[] = [];
  const pairDet: number[] = [];
  const pairDist: number[] = [];
  let lo = 0;
  for (let i = 0; i < nr; i++) {
    const r = reference[i]!;
    while (lo < nd && detected[lo]! < r - tolerance) lo++;
    for (let j = lo; j < nd && detected[j]! <= r + tolerance; j++) {
      pairRef.push(i);
      pairDet.push(j);
      pairDist.push(Math.abs(detected[j]! - r));
    }
  }
  const order = Array.from(pairDist.keys()).sort((a, b) => pairDist[a]! - pairDist[b]! || a - b);
  const refToDet = new Int32Array(nr).fill(-1);
  const detToRef = new Int32Array(nd).fill(-1);
  let tp = 0;
  for (const k of order) {
    const i = pairRef[k]!;
    const j = pairDet[k]!;
    if (refToDet[i] !== -1 || detToRef[j] !== -1) continue;
    refToDet[i] = j;
    detToRef[j] = i;
    tp++;
  }
  const offsets = new Float64Array(tp);
  for (let i = 0, k = 0; i < nr; i++) {
    const j = refToDet[i]!;
    if (j >= 0) offsets[k++] = detected[j]! - reference[i]!;
  }
  return {
    tp,
    fn: nr - tp,
    fp: nd - tp,
    sensitivity: nr === 0 ? NaN : tp / nr,
    ppv: nd === 0 ? NaN : tp / nd,
    refToDet,
    detToRef,
    offsets,
  };
}

/** Median of the values (NaN when empty); used for the median R-peak offset. */
export function median(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return NaN;
  const s = Float64Array.from(values).sort();
  const m = n >> 1;
  return n % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Sensitivity and positive predictivity of one class label over matched beats. */
export interface LabelScore {
  tp: number;
  fn: number;
  fp: number;
  sensitivity: number;
  ppv: number;
}

/**
 * Scores one label (e.g. 'V') on the matched pairs only: a reference beat of that class whose detection
 * carries another label is a false negative, and a detection labelled so whose reference beat is of
 * another class is a false positive. Unmatched beats do not count here; the detection score covers them.
 */
export function scoreLabel(
  match: BeatMatch,
  referenceLabels: ArrayLike<string>,
  detectedLabels: ArrayLike<string>,
  label: string,
): LabelScore {
  if (referenceLabels.length !== match.refToDet.length || detectedLabels.length !== match.detToRef.length) {
    throw new HrvError(
      'HRV_ERR_INPUT',
      'label arrays must have one label per reference beat and per detection',
    );
  }
  let tp = 0;
  let fn = 0;
  let fp = 0;
  for (let i = 0; i < match.refToDet.length; i++) {
    const j = match.refToDet[i]!;
    if (j < 0) continue;
    const isRef = referenceLabels[i] === label;
    const isDet = detectedLabels[j] === label;
    if (isRef && isDet) tp++;
    else if (isRef) fn++;
    else if (isDet) fp++;
  }
  return {
    tp,
    fn,
    fp,
    sensitivity: tp + fn === 0 ? NaN : tp / (tp + fn),
    ppv: tp + fp === 0 ? NaN : tp / (tp + fp),
  };
}
