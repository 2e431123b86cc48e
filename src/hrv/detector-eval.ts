/**
 * Scoring of detection, beat labels and the resulting NN series against an annotated record, with the
 * ANSI/AAMI EC57 conventions: one-to-one matching within 150 ms, annotation classes mapped to N (N, L, R,
 * e, j), S (A, a, J, S), V (V, E), F and Q (Q, ?), and stretches without beat annotations (ventricular
 * fibrillation) left out of the scoring. Pure, so tests and the validation script share it.
 */
import { matchBeats, median, scoreLabel, type LabelScore } from './beat-matching.js';
import { nnSeriesFromBeats } from './annotations.js';
import { timeDomain } from './time-domain.js';
import type { BeatLabel } from './types.js';

/** EC57 class of a WFDB beat symbol: N, S, V, F or Q; '' for a non-beat annotation. */
export function ec57Class(symbol: string): 'N' | 'S' | 'V' | 'F' | 'Q' | '' {
  if ('NLRej'.includes(symbol) && symbol.length === 1) return 'N';
  if ('AaJS'.includes(symbol) && symbol.length === 1) return 'S';
  if (symbol === 'V' || symbol === 'E') return 'V';
  if (symbol === 'F') return 'F';
  if (symbol === 'Q' || symbol === '?') return 'Q';
  return '';
}

/** Score of one record (see evaluateRecord). */
export interface RecordScore {
  /** Reference beats scored, detections scored (outside the excluded ranges). */
  nRef: number;
  nDet: number;
  tp: number;
  fn: number;
  fp: number;
  sensitivity: number;
  ppv: number;
  /** Median detected − annotated R time, ms. */
  medianOffsetMs: number;
  v: LabelScore;
  s: LabelScore;
  /** Detections labelled Q. */
  nQ: number;
  /** SDNN and RMSSD (ms) of our NN series (our N-N intervals) and of the annotation's (EC57 normal pairs). */
  sdnnOurs: number | null;
  sdnnRef: number | null;
  rmssdOurs: number | null;
  rmssdRef: number | null;
}

/**
 * Scores detected beats (samples) and their labels against reference beats (samples, WFDB symbols) of a
 * record at fsHz; detections and reference beats inside `exclude` ranges [from, to) of samples (widened
 * by the tolerance) are left out.
 */
export function evaluateRecord(
  fsHz: number,
  refSamples: ArrayLike<number>,
  refSymbols: ArrayLike<string>,
  detected: ArrayLike<number>,
  labels: ArrayLike<BeatLabel>,
  exclude: ReadonlyArray<readonly [number, number]> = [],
): RecordScore {
  const tol = Math.round(0.15 * fsHz);
  const out = (p: number): boolean => exclude.some(([a, b]) => p >= a - tol && p < b + tol);
  const rs: number[] = [];
  const rc: string[] = [];
  for (let i = 0; i < refSamples.length; i++) {
    const c = ec57Class(refSymbols[i]!);
    if (c === '' || out(refSamples[i]!)) continue;
    rs.push(refSamples[i]!);
    rc.push(c);
  }
  const ds: number[] = [];
  const dl: BeatLabel[] = [];
  for (let i = 0; i < detected.length; i++) {
    if (out(detected[i]!)) continue;
    ds.push(detected[i]!);
    dl.push(labels[i]!);
  }
  const m = matchBeats(rs, ds, tol);
  const nnOurs = nnSeriesFromBeats(ds.map((p, i) => ({ tS: p / fsHz, symbol: dl[i]! })));
  const nnRef = nnSeriesFromBeats(rs.map((p, i) => ({ tS: p / fsHz, symbol: rc[i]! })));
  const tdO = timeDomain(nnOurs);
  const tdR = timeDomain(nnRef);
  return {
    nRef: rs.length,
    nDet: ds.length,
    tp: m.tp,
    fn: m.fn,
    fp: m.fp,
    sensitivity: m.sensitivity,
    ppv: m.ppv,
    medianOffsetMs: (median(m.offsets) * 1000) / fsHz,
    v: scoreLabel(m, rc, dl, 'V'),
    s: scoreLabel(m, rc, dl, 'S'),
    nQ: dl.filter((l) => l === 'Q').length,
    sdnnOurs: tdO.sdnn_ms,
    sdnnRef: tdR.sdnn_ms,
    rmssdOurs: tdO.rmssd_ms,
    rmssdRef: tdR.rmssd_ms,
  };
}
