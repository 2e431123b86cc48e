/**
 * Per-patient streaming analysis shared by the enclave (secure mode) and the host (plain mode): sequence
 * checks, strict batch CSV parsing, the 5-minute sliding window, the original per-batch measures, alerts,
 * and a compact binary form of the state for sealing. Pure computation over node-free inputs.
 */
import { EnvelopeError } from '../crypto/index.js';
import { HrvaultError } from '../errors.js';
import { originalBlockMeasures, StreamingHrvWindow, type HrvMeasures, type OriginalBlockMeasures } from '../hrv/index.js';

/** A batch file was authentic but out of sequence (replayed, or older than one already accepted). */
export class SequenceError extends HrvaultError {
  constructor(message: string) {
    super('HRV_ERR_SEQUENCE_REPLAY', message);
    this.name = 'SequenceError';
  }
}

/** Alert thresholds (documented in docs/pipeline-security.md §Alerts). */
export const ALERT_RULES = {
  tachycardiaBpm: 120,
  bradycardiaBpm: 40,
  rateSpanMs: 60_000,
  rateMinCoverageMs: 30_000,
  afSpanMs: 120_000,
  afMinIntervals: 60,
  afMinRmssdRatio: 0.1,
  afMaxLag1Autocorr: 0.3,
} as const;

/** Sliding-window length for the standard measures (ms). */
export const WINDOW_MS = 300_000;

export type AlertType = 'tachycardia' | 'bradycardia' | 'af_like';

/** The plaintext of an hrv-result file (JSON). */
export interface HrvResult {
  v: 1;
  patient: string;
  seq: number;
  gap: number;
  t_start_ms: number;
  t_end_ms: number;
  beats: number;
  original: OriginalBlockMeasures[];
  window: { span_ms: number; n: number; measures: HrvMeasures | null };
  active_alerts: AlertType[];
  alerts: { type: AlertType; onset_ms: number; value: number }[];
}

export interface PatientState {
  gateway: string;
  patient: string;
  lastSeq: number;
  lastT: number;
  window: StreamingHrvWindow;
  active: Set<AlertType>;
}

const MAX_RR_MS = 5000;

/**
 * Parses `time_ms,rr_ms` CSV (header, blank and `#` lines allowed); throws EnvelopeError(CONTENT) naming the
 * line. Messages never quote values: they cross to the untrusted host. That is why this is not
 * hrv's parseRrText, whose messages quote the offending field and which accepts other export formats
 * the gateway never writes (the gateway writes with formatRrCsv).
 */
export function parseBatchCsv(text: string, name: string): { t: Float64Array; rr: Float64Array } {
  const lines = text.split('\n');
  const t: number[] = [];
  const rr: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || (i === 0 && line === 'time_ms,rr_ms')) continue;
    const comma = line.indexOf(',');
    const tv = comma > 0 ? Number(line.slice(0, comma)) : NaN;
    const rv = comma > 0 ? Number(line.slice(comma + 1)) : NaN;
    if (!Number.isFinite(tv) || !Number.isFinite(rv)) throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `${name}:${i + 1}: expected time_ms,rr_ms`);
    if (rv <= 0 || rv > MAX_RR_MS) throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `${name}:${i + 1}: RR interval is outside (0, ${MAX_RR_MS}] ms`);
    if (t.length > 0 && tv <= t[t.length - 1]!) throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `${name}:${i + 1}: beat time does not increase`);
    t.push(tv);
    rr.push(rv);
  }
  return { t: Float64Array.from(t), rr: Float64Array.from(rr) };
}

function rateAndIrregularity(s: { tMs: Float64Array; rrMs: Float64Array }, endT: number): { bpm: number | null; coverage: number; rmssdRatio: number | null; lag1: number | null; nAf: number } {
  const n = s.rrMs.length;
  let sum = 0;
  let cnt = 0;
  for (let i = n - 1; i >= 0 && s.tMs[i]! > endT - ALERT_RULES.rateSpanMs; i--) {
    sum += s.rrMs[i]!;
    cnt++;
  }
  const bpm = cnt > 0 ? 60_000 / (sum / cnt) : null;
  let lo = n;
  while (lo > 0 && s.tMs[lo - 1]! > endT - ALERT_RULES.afSpanMs) lo--;
  const m = n - lo;
  if (m < ALERT_RULES.afMinIntervals) return { bpm, coverage: sum, rmssdRatio: null, lag1: null, nAf: m };
  let mean = 0;
  for (let i = lo; i < n; i++) mean += s.rrMs[i]!;
  mean /= m;
  let d2 = 0;
  let v = 0;
  let c1 = 0;
  for (let i = lo; i < n; i++) {
    const x = s.rrMs[i]! - mean;
    v += x * x;
    if (i > lo) {
      const d = s.rrMs[i]! - s.rrMs[i - 1]!;
      d2 += d * d;
      c1 += x * (s.rrMs[i - 1]! - mean);
    }
  }
  return { bpm, coverage: sum, rmssdRatio: Math.sqrt(d2 / (m - 1)) / mean, lag1: v > 0 ? c1 / v : null, nAf: m };
}


/** What one accepted batch produced. */
export interface Analysis {
  result: HrvResult;
  beats: number;
  alerts: number;
  gap: number;
}

/** Batch facts from the (authenticated) header. */
export interface BatchMeta {
  gateway: string;
  patient: string;
  seq: number;
  t_start_ms: number;
  t_end_ms: number;
}

interface StateMeta {
  g: string;
  p: string;
  s: number;
  t: number;
  n: number;
  a: AlertType[];
}

/** All patients' windows and sequence counters; state changes only when a batch passes every check. */
export class HrvAnalyser {
  readonly #patients = new Map<string, PatientState>();

  /** Number of patients with state. */
  get patientCount(): number {
    return this.#patients.size;
  }

  /** Checks the batch's sequence number and beats against the patient's state, then updates the window and computes results. */
  analyse(h: BatchMeta, csvText: string, name: string): Analysis {
    const key = `${h.gateway}/${h.patient}`;
    const st = this.#patients.get(key);
    if (st && h.seq <= st.lastSeq) {
      throw new SequenceError(`${h.gateway}/${h.patient}: sequence ${h.seq} is not after ${st.lastSeq} (replayed or reordered file)`);
    }
    if (h.t_end_ms < h.t_start_ms) throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `time range ${h.t_start_ms}–${h.t_end_ms} ms is reversed`);
    const { t, rr } = parseBatchCsv(csvText, name);
    const n = t.length;
    if (n > 0 && (t[0]! < h.t_start_ms || t[n - 1]! > h.t_end_ms)) {
      throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `${name}: beats lie outside the header's time range`);
    }
    if (st && n > 0 && t[0]! <= st.lastT) {
      throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `${name}: first beat is not after the last accepted beat`);
    }
    const state: PatientState = st ?? { gateway: h.gateway, patient: h.patient, lastSeq: -1, lastT: -Infinity, window: new StreamingHrvWindow(), active: new Set() };
    // The first file of a patient sets the baseline; after that a skipped number is flagged, not refused.
    const gap = st ? h.seq - st.lastSeq - 1 : 0;
    for (let i = 0; i < n; i++) state.window.append(t[i]!, rr[i]!);
    state.lastSeq = h.seq;
    if (n > 0) {
      state.lastT = t[n - 1]!;
      state.window.evictBefore(state.lastT - WINDOW_MS);
    }
    this.#patients.set(key, state);
    const series = state.window.series();
    const first = series.tMs.length > 0 ? series.tMs[0]! - series.rrMs[0]! : 0;
    const span = series.tMs.length > 0 ? series.tMs[series.tMs.length - 1]! - first : 0;
    const onsets: HrvResult['alerts'] = [];
    if (n > 0) {
      const m = rateAndIrregularity(series, state.lastT);
      const update = (type: AlertType, on: boolean, value: number): void => {
        if (on && !state.active.has(type)) onsets.push({ type, onset_ms: state.lastT, value });
        if (on) state.active.add(type);
        else state.active.delete(type);
      };
      const rateKnown = m.bpm !== null && m.coverage >= ALERT_RULES.rateMinCoverageMs;
      update('tachycardia', rateKnown && m.bpm! > ALERT_RULES.tachycardiaBpm, m.bpm ?? 0);
      update('bradycardia', rateKnown && m.bpm! < ALERT_RULES.bradycardiaBpm, m.bpm ?? 0);
      update('af_like', m.rmssdRatio !== null && m.lag1 !== null && m.rmssdRatio > ALERT_RULES.afMinRmssdRatio && m.lag1 < ALERT_RULES.afMaxLag1Autocorr, m.rmssdRatio ?? 0);
    }
    const result: HrvResult = {
      v: 1,
      patient: h.patient,
      seq: h.seq,
      gap,
      t_start_ms: h.t_start_ms,
      t_end_ms: h.t_end_ms,
      beats: n,
      original: n > 0 ? originalBlockMeasures({ tMs: t, rrMs: rr }, 10) : [],
      window: { span_ms: span, n: series.tMs.length, measures: series.tMs.length >= 2 ? state.window.measures('welch') : null },
      active_alerts: [...state.active].sort(),
      alerts: onsets,
    };
    return { result, beats: n, alerts: onsets.length, gap };
  }

  /** The whole state as bytes (JSON index + float64 samples), for sealing. */
  save(): Uint8Array {
    const meta: StateMeta[] = [];
    let total = 0;
    const series = [];
    for (const st of this.#patients.values()) {
      const s = st.window.series();
      series.push(s);
      total += s.tMs.length;
      meta.push({ g: st.gateway, p: st.patient, s: st.lastSeq, t: Number.isFinite(st.lastT) ? st.lastT : -1, n: s.tMs.length, a: [...st.active] });
    }
    const metaBytes = Buffer.from(JSON.stringify(meta));
    const pad = (8 - ((4 + metaBytes.length) % 8)) % 8;
    const buf = Buffer.alloc(4 + metaBytes.length + pad + total * 16);
    buf.writeUInt32BE(metaBytes.length, 0);
    metaBytes.copy(buf, 4);
    const f = new Float64Array(buf.buffer, buf.byteOffset + 4 + metaBytes.length + pad, total * 2);
    let o = 0;
    for (const s of series) {
      f.set(s.tMs, o);
      f.set(s.rrMs, o + s.tMs.length);
      o += 2 * s.tMs.length;
    }
    return buf;
  }

  /** Replaces the state with one produced by `save()`. */
  load(blob: Uint8Array): void {
    try {
      const b = Buffer.from(blob);
      const metaLen = b.readUInt32BE(0);
      const meta = JSON.parse(b.subarray(4, 4 + metaLen).toString()) as StateMeta[];
      const pad = (8 - ((4 + metaLen) % 8)) % 8;
      const f = new Float64Array(b.buffer.slice(b.byteOffset + 4 + metaLen + pad, b.byteOffset + b.length));
      this.#patients.clear();
      let o = 0;
      for (const m of meta) {
        const w = new StreamingHrvWindow();
        for (let i = 0; i < m.n; i++) w.append(f[o + i]!, f[o + m.n + i]!);
        o += 2 * m.n;
        this.#patients.set(`${m.g}/${m.p}`, { gateway: m.g, patient: m.p, lastSeq: m.s, lastT: m.t < 0 ? -Infinity : m.t, window: w, active: new Set(m.a) });
      }
    } catch (err) {
      throw new HrvaultError('HRV_ERR_SEALING', 'saved analysis state is unreadable', { cause: err });
    }
  }
}
