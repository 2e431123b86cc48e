/**
 * Per-patient streaming analysis shared by the enclave (secure mode) and the host (plain mode): sequence
 * checks, strict batch CSV parsing, the 5-minute sliding window, the original per-batch measures, alerts,
 * and a compact binary form of the state for sealing. Pure computation over node-free inputs.
 */
import { createHash } from 'node:crypto';
import { EnvelopeError } from '../crypto/index.js';
import { HrvaultError } from '../errors.js';
import { ALERT_TYPES, MEASURE_NAMES, type AlertOnset, type AlertType, type CleaningSummary, type HrvMeasures, type HrvResult } from '../contracts/index.js';
import { analyze, assessRhythm, cleanRr, originalBlockMeasures, type RhythmAssessment, StreamingHrvWindow, type RrSeries } from '../hrv/index.js';

export type { AlertType, HrvResult };

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
  /** Irregular rhythm: src/hrv's assessRhythm (irregularity after ectopic removal) over this trailing span. */
  irregularSpanMs: 120_000,
  irregularMinIntervals: 60,
} as const;

/** A window shorter than this share of WINDOW_MS is reported as partial. */
const FULL_WINDOW_SHARE = 0.95;

/** Sliding-window length for the standard measures (ms). */
export const WINDOW_MS = 300_000;

/**
 * Stream time between two full computations of a patient's window measures (ms). Cleaning, the spectrum and the
 * nonlinear measures are whole-window computations (cleanRr judges 5-minute blocks and a ±60-interval reference;
 * Welch, sample entropy and DFA see every interval), 0.5–2 ms per window: per 10-s file that was most of a file's
 * cost. A 5-minute measure moves little in a minute (the window shares 80% of its intervals with the one before),
 * so the measures are recomputed once the stream has moved on by this much and carried forward in between, with
 * `window.measured` naming the window they describe. Rate and rhythm alerts do not wait for it: they use their
 * trailing spans on every file. Counted in beat times only, so a replay or a restarted enclave recomputes on the
 * same files.
 */
export const MEASURE_CADENCE_MS = 60_000;

/**
 * How many of a patient's most recent sequence numbers the state remembers (dedupe and reorder window): a file
 * repeating one of them gets its original result back; an older repeat is refused as a replay. A gateway uploads
 * each patient's files in order, so a redelivery (host crash, gateway re-upload) lies a few numbers behind.
 * A receipt that still holds its result (not yet acknowledged durable by the host) is kept beyond the window: one
 * micro-batch can carry more than 16 files of a patient (the backlog after a restart), and a crash before the host
 * wrote them must not turn their retry into replays (see `evictReceipts`).
 */
export const DEDUPE_WINDOW = 16;

/**
 * Drops the receipts that left the dedupe window, except those still holding a result the host has not written.
 * `ackedSeq`: the host has just acknowledged this seq of the patient. The host writes all results of one call at
 * once and acknowledges them together, and a patient's files are in one call in seq order; so a held result more
 * than DEDUPE_WINDOW below an acknowledged seq is one whose acknowledgement was lost with a host crash (its input
 * has left the inbox; no retry can come): dropped, which bounds what lost acknowledgements leave behind.
 */
function evictReceipts(st: PatientState, ackedSeq?: number): boolean {
  let changed = false;
  for (const [seq, r] of st.done) {
    if (seq > st.lastSeq - DEDUPE_WINDOW) continue;
    if (r.result === undefined || (ackedSeq !== undefined && seq <= ackedSeq - DEDUPE_WINDOW)) {
      st.done.delete(seq);
      changed = true;
    }
  }
  return changed;
}

/** Drops the held result of an acknowledged seq and what the acknowledgement makes obsolete; true when state changed. */
function acknowledgeIn(st: PatientState | undefined, seq: number): boolean {
  if (!st) return false;
  const r = st.done.get(seq);
  let changed = false;
  if (r?.result) {
    delete r.result;
    changed = true;
  }
  return evictReceipts(st, seq) || changed;
}


/** What the state keeps of an accepted file: a hash of its content, and its result until the host has written it. */
export interface Receipt {
  /** First 16 bytes of SHA-256 over the file's plaintext (base64): tells a true repeat from a different file under the same number. */
  input: string;
  /** The sealed result, held until the host acknowledges it durable (then dropped: the host's outbox has it). */
  result?: Uint8Array;
}

/** The window measures of a patient's last full computation, carried forward until the next (MEASURE_CADENCE_MS). */
export interface MeasuredWindow {
  /** The window they were computed on: its start and end (ms) and its intervals before cleaning. */
  start_ms: number;
  end_ms: number;
  n: number;
  measures: HrvResult['window']['measures'];
  cleaning: HrvResult['window']['cleaning'];
}

export interface PatientState {
  gateway: string;
  patient: string;
  lastSeq: number;
  lastT: number;
  window: StreamingHrvWindow;
  active: Set<AlertType>;
  /** Receipts of the accepted sequence numbers within DEDUPE_WINDOW of lastSeq, and older ones still holding their result. */
  done: Map<number, Receipt>;
  /** Numbers skipped when a successor was released without them (within LATE_WINDOW of lastSeq): late files welcome. */
  skipped?: Set<number>;
  /** The last full computation of the window measures (absent before the first). */
  measured?: MeasuredWindow;
}

/**
 * How far behind lastSeq a skipped number is still remembered (sequence numbers). The dedupe window alone is too
 * short for a late file: while a hold runs the patient's next files queue up (17 in 5 s at 0.3-s cuts), and the
 * released successor takes them all through at once. Beyond this a late file is refused as older than the window.
 */
export const LATE_WINDOW = 1024;

/** A late file: never accepted, below lastSeq, within the dedupe window (every accepted number there has a receipt) or skipped. */
function isLate(st: PatientState, seq: number): boolean {
  return seq < st.lastSeq && !st.done.has(seq) && (seq > st.lastSeq - DEDUPE_WINDOW || st.skipped?.has(seq) === true);
}

/** Remembers the numbers a released file skipped (prev = the last accepted before it) and forgets those beyond LATE_WINDOW. */
function trackSkipped(st: PatientState, prev: number, seq: number): void {
  for (let q = Math.max(prev + 1, seq - LATE_WINDOW + 1); q < seq; q++) (st.skipped ??= new Set()).add(q);
  for (const q of st.skipped ?? []) if (q <= seq - LATE_WINDOW) st.skipped!.delete(q);
}

/**
 * How the state classifies an authentic file before analysing it. `late`: never accepted, but its successor was
 * analysed without it (it came after the reorder hold); `analyse` analyses it on its own (see `analyseAlone`).
 */
export type Classification = { kind: 'new' } | { kind: 'late' } | { kind: 'duplicate'; receipt: Receipt } | { kind: 'defer' };

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

/** Parses a batch's CSV and checks its beats against the header's time range (ms); throws EnvelopeError(CONTENT). */
function parseInRange(h: BatchMeta, csvText: string, name: string): { t: Float64Array; rr: Float64Array } {
  if (h.t_end_ms < h.t_start_ms) throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `time range ${h.t_start_ms}–${h.t_end_ms} ms is reversed`);
  const { t, rr } = parseBatchCsv(csvText, name);
  const n = t.length;
  if (n > 0 && (t[0]! < h.t_start_ms || t[n - 1]! > h.t_end_ms)) {
    throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `${name}: beats lie outside the header's time range`);
  }
  return { t, rr };
}

/** Mean heart rate over the trailing `rateSpanMs` before `endT` (bpm) and how many ms of intervals it rests on. */
function trailingRate(s: RrSeries, endT: number): { bpm: number | null; coverageMs: number } {
  let sum = 0;
  let cnt = 0;
  for (let i = s.rrMs.length - 1; i >= 0 && s.tMs[i]! > endT - ALERT_RULES.rateSpanMs; i--) {
    sum += s.rrMs[i]!;
    cnt++;
  }
  return { bpm: cnt > 0 ? 60_000 / (sum / cnt) : null, coverageMs: sum };
}

/** The HRV core's rhythm judgement over the trailing `irregularSpanMs` (null when it holds too few intervals to judge). */
function trailingRhythm(s: RrSeries, endT: number): RhythmAssessment | null {
  let lo = s.tMs.length;
  while (lo > 0 && s.tMs[lo - 1]! > endT - ALERT_RULES.irregularSpanMs) lo--;
  if (s.tMs.length - lo < ALERT_RULES.irregularMinIntervals) return null;
  return assessRhythm({ tMs: s.tMs.subarray(lo), rrMs: s.rrMs.subarray(lo) });
}

/**
 * The window's measures of its NN intervals: cleanRr excludes ectopic beats and artefacts and corrects missed and
 * extra beats, except in stretches it judges irregular (suspected AF), where "correcting" would trim real
 * irregularity away; its report says so.
 */
function measureWindow(series: RrSeries): MeasuredWindow {
  const n = series.tMs.length;
  const cleaned = n >= 2 ? cleanRr(series) : null;
  const nn = cleaned?.series;
  const r = cleaned?.report;
  return {
    start_ms: n > 0 ? series.tMs[0]! - series.rrMs[0]! : 0,
    end_ms: n > 0 ? series.tMs[n - 1]! : 0,
    n,
    measures: nn && nn.tMs.length >= 2 ? analyze(nn) : null,
    cleaning: r
      ? { n_input: r.n_input, n_kept: r.n_kept, n_excluded: r.n_excluded, n_corrected: r.n_corrected, n_out_of_range: r.n_out_of_range, n_ectopic: r.n_ectopic, n_artefact: r.n_artefact }
      : null,
  };
}

const CLEANING_KEYS = ['n_input', 'n_kept', 'n_excluded', 'n_corrected', 'n_out_of_range', 'n_ectopic', 'n_artefact'] as const satisfies readonly (keyof CleaningSummary)[];

/** A MeasuredWindow as the state stores it: values in MEASURE_NAMES and CLEANING_KEYS order, no key names (10,000 patients' worth is in every state save). */
type StoredMeasured = [number, number, number, (number | null)[] | null, number[] | null];

function storeMeasured(m: MeasuredWindow): StoredMeasured {
  return [m.start_ms, m.end_ms, m.n, m.measures ? MEASURE_NAMES.map((k) => m.measures![k]) : null, m.cleaning ? CLEANING_KEYS.map((k) => m.cleaning![k]) : null];
}

function loadMeasured([start, end, n, measures, cleaning]: StoredMeasured): MeasuredWindow {
  return {
    start_ms: start,
    end_ms: end,
    n,
    measures: measures ? (Object.fromEntries(MEASURE_NAMES.map((k, i) => [k, measures[i] ?? null])) as unknown as HrvMeasures) : null,
    cleaning: cleaning ? (Object.fromEntries(CLEANING_KEYS.map((k, i) => [k, cleaning[i]!])) as unknown as CleaningSummary) : null,
  };
}

/** Whether the window measures are due: none yet (or of an empty window), or the stream has moved `cadenceMs` past the last ones (beat times only). */
function measuresDue(st: PatientState, cadenceMs: number): boolean {
  return st.measured === undefined || st.measured.n === 0 || st.lastT - st.measured.end_ms >= cadenceMs;
}

/** The result's window: the current window's bounds and intervals, and the measures and cleaning of `measured` (the last full computation). */
function windowSummary(bounds: { startMs: number; endMs: number } | null, n: number, measured: MeasuredWindow, afSuspected: boolean | null): HrvResult['window'] {
  const start = bounds?.startMs ?? 0;
  const end = bounds?.endMs ?? 0;
  const span = end - start;
  return {
    start_ms: start,
    end_ms: end,
    span_ms: span,
    n,
    partial: span < WINDOW_MS * FULL_WINDOW_SHARE,
    length_ms: WINDOW_MS,
    measures: measured.measures,
    cleaning: measured.cleaning,
    measured: { start_ms: measured.start_ms, end_ms: measured.end_ms, n: measured.n },
    af_suspected: afSuspected,
  };
}

/**
 * The result of a file late beyond the reorder hold, from its own beats alone: its beats, the original block
 * measures, and a "window" of just these beats (measures, cleaning, rhythm when long enough), flagged `late`.
 * No stream state goes in (the stream was analysed on without it, and its window has moved on), so no gap and no
 * alerts: a rate or rhythm alert needs the trailing stream. Pure: the fault suite's checker recomputes it as is.
 */
export function analyseAlone(h: BatchMeta, csvText: string, name: string): HrvResult {
  const { t, rr } = parseInRange(h, csvText, name);
  const series = { tMs: t, rrMs: rr };
  const rhythm = t.length > 0 ? trailingRhythm(series, t[t.length - 1]!) : null;
  return {
    v: 2,
    patient: h.patient,
    seq: h.seq,
    gap: 0,
    t_start_ms: h.t_start_ms,
    t_end_ms: h.t_end_ms,
    rr: { t_ms: Array.from(t), rr_ms: Array.from(rr) },
    original: t.length > 0 ? originalBlockMeasures(series, 10) : [],
    window: windowSummary(t.length > 0 ? { startMs: t[0]! - rr[0]!, endMs: t[t.length - 1]! } : null, t.length, measureWindow(series), rhythm === null ? null : rhythm.af_suspected),
    active_alerts: [],
    alerts: [],
    late: true,
  };
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
  /** Receipts: [seq, input hash, held result (base64) or null]. */
  d?: [number, string, string | null][];
  /** Skipped numbers (PatientState.skipped). */
  m?: number[];
  /** The last full computation of the window measures (PatientState.measured). */
  f?: StoredMeasured;
}

/** The content hash a receipt keeps of a file's plaintext. */
export function inputDigest(plaintext: Uint8Array): string {
  return createHash('sha256').update(plaintext).digest().subarray(0, 16).toString('base64');
}

/** All patients' windows and sequence counters; state changes only when a batch passes every check. */
/** One patient's changes in a journal record: counters as after the batch, the beats appended, the receipts added. */
interface DeltaPatient {
  g: string;
  p: string;
  s: number;
  t: number;
  a: AlertType[];
  bt: number[];
  br: number[];
  /** [seq, input hash, length of the held result in the record's blob area (0: none)] */
  d: [number, string, number][];
  /** The skipped numbers after the change (PatientState.skipped), when there are any to remember. */
  m?: number[];
  /** The window measures, when the change computed them anew (PatientState.measured). */
  f?: StoredMeasured;
}

interface DeltaMeta {
  /** Acknowledged results: [gateway, patient, seq]. */
  k: [string, string, number][];
  p: DeltaPatient[];
}

export class HrvAnalyser {
  readonly #patients = new Map<string, PatientState>();
  /** Changes since the last `takeDelta`, per patient key: beats appended and sequence numbers accepted. */
  readonly #dirty = new Map<string, { t: number[]; rr: number[]; seqs: number[]; measured?: true }>();
  #acked: [string, string, number][] = [];
  readonly #journal: boolean;
  readonly #cadenceMs: number;

  /**
   * `journal`: record changes for `takeDelta` (the enclave's incremental commit; the plain host keeps no journal).
   * `cadenceMs`: stream time between full computations of the window measures (ms, default MEASURE_CADENCE_MS;
   * 0 recomputes on every file, as before the cadence: the benchmark's baseline).
   */
  constructor(opts: { journal?: boolean; cadenceMs?: number } = {}) {
    this.#journal = opts.journal ?? false;
    this.#cadenceMs = opts.cadenceMs ?? MEASURE_CADENCE_MS;
  }

  /** Number of patients with state. */
  get patientCount(): number {
    return this.#patients.size;
  }

  /**
   * Decides what an authentic file is, before anything changes: new (analyse it), a true repeat of an accepted
   * file (answer with its receipt), early (its predecessor is missing: wait, unless `release` says it has waited
   * long enough), or late (never accepted, below the last accepted number but within the dedupe window: its
   * successor was released without it; analysed on its own). Throws SequenceError for a file that reuses an
   * accepted number with other content, or one older than the dedupe window (its receipt, if any, is gone: a
   * repeat could not be told from a file never seen).
   *
   * Bounded reorder: how long an early file waits is the host's reorder hold (src/cloud, `reorderHoldMs`); a
   * host can only delay or drop files by it, which it can do anyway.
   */
  classify(h: BatchMeta, input: string, release = false): Classification {
    const st = this.#patients.get(`${h.gateway}/${h.patient}`);
    if (!st) return { kind: 'new' };
    const receipt = st.done.get(h.seq);
    if (receipt) {
      if (receipt.input !== input) throw new SequenceError(`${h.gateway}/${h.patient}: sequence ${h.seq} was accepted with other content`);
      return { kind: 'duplicate', receipt };
    }
    if (isLate(st, h.seq)) return { kind: 'late' };
    if (h.seq <= st.lastSeq) {
      throw new SequenceError(`${h.gateway}/${h.patient}: sequence ${h.seq} is older than the last ${DEDUPE_WINDOW} accepted (up to ${st.lastSeq}) and was not skipped within the last ${LATE_WINDOW}: a repeat or a file late beyond the window`);
    }
    if (h.seq > st.lastSeq + 1 && !release) return { kind: 'defer' };
    return { kind: 'new' };
  }

  /** Attaches the sealed result to an accepted file's receipt (held until `acknowledge`). */
  hold(h: BatchMeta, result: Uint8Array): void {
    const r = this.#patients.get(`${h.gateway}/${h.patient}`)?.done.get(h.seq);
    if (r) r.result = result;
  }

  /** The host has made this result durable: drop the held copy; true when state changed. */
  acknowledge(a: { gateway: string; patient: string; seq: number }): boolean {
    if (!acknowledgeIn(this.#patients.get(`${a.gateway}/${a.patient}`), a.seq)) return false;
    if (this.#journal) this.#acked.push([a.gateway, a.patient, a.seq]);
    return true;
  }

  /**
   * What changed since the last call (or the load), as one journal record: the acknowledgements, and per patient
   * touched its counters, the beats appended and the receipts added (with held results). Undefined when nothing
   * changed.
   */
  takeDelta(): Uint8Array | undefined {
    if (this.#dirty.size === 0 && this.#acked.length === 0) return undefined;
    const blobs: Uint8Array[] = [];
    const meta: DeltaMeta = { k: this.#acked, p: [] };
    for (const [key, dirty] of this.#dirty) {
      const st = this.#patients.get(key)!;
      const d: DeltaPatient['d'] = [];
      for (const seq of dirty.seqs) {
        const r = st.done.get(seq);
        if (!r) continue;
        d.push([seq, r.input, r.result?.length ?? 0]);
        if (r.result) blobs.push(r.result);
      }
      meta.p.push({ g: st.gateway, p: st.patient, s: st.lastSeq, t: Number.isFinite(st.lastT) ? st.lastT : -1, a: [...st.active], bt: dirty.t, br: dirty.rr, d, ...(st.skipped ? { m: [...st.skipped] } : {}), ...(dirty.measured && st.measured ? { f: storeMeasured(st.measured) } : {}) });
    }
    this.#dirty.clear();
    this.#acked = [];
    const metaBytes = Buffer.from(JSON.stringify(meta));
    const head = Buffer.alloc(4);
    head.writeUInt32BE(metaBytes.length, 0);
    return Buffer.concat([head, metaBytes, ...blobs]);
  }

  /** Applies a journal record made by `takeDelta` to the loaded state (the same updates `analyse` made). */
  applyDelta(record: Uint8Array): void {
    try {
      const b = Buffer.from(record.buffer, record.byteOffset, record.length);
      const metaLen = b.readUInt32BE(0);
      const meta = JSON.parse(b.subarray(4, 4 + metaLen).toString()) as DeltaMeta;
      let off = 4 + metaLen;
      for (const [g, p, seq] of meta.k) acknowledgeIn(this.#patients.get(`${g}/${p}`), seq);
      for (const m of meta.p) {
        const key = `${m.g}/${m.p}`;
        const st = this.#patients.get(key) ?? { gateway: m.g, patient: m.p, lastSeq: -1, lastT: -Infinity, window: new StreamingHrvWindow(), active: new Set<AlertType>(), done: new Map<number, Receipt>()};
        for (let i = 0; i < m.bt.length; i++) st.window.append(m.bt[i]!, m.br[i]!);
        st.lastSeq = m.s;
        st.lastT = m.t < 0 ? -Infinity : m.t;
        if (m.bt.length > 0) st.window.evictBefore(st.lastT - WINDOW_MS);
        st.active = new Set(m.a);
        if (m.m) st.skipped = new Set(m.m);
        if (m.f) st.measured = loadMeasured(m.f);
        for (const [seq, input, len] of m.d) {
          st.done.set(seq, len > 0 ? { input, result: new Uint8Array(b.subarray(off, off + len)) } : { input });
          off += len;
        }
        evictReceipts(st);
        this.#patients.set(key, st);
      }
    } catch (err) {
      throw new HrvaultError('HRV_ERR_SEALING', 'a journal record of the analysis state is unreadable', { cause: err });
    }
  }

  /**
   * Checks the batch's sequence number and beats against the patient's state, then updates the window and computes
   * results; `input` (inputDigest of the plaintext) is kept in the receipt. Call `classify` first: a file it
   * calls late is analysed on its own (`#analyseLate`); any other number at or below the last accepted one is refused.
   */
  analyse(h: BatchMeta, csvText: string, name: string, input = ''): Analysis {
    const key = `${h.gateway}/${h.patient}`;
    const st = this.#patients.get(key);
    if (st && h.seq <= st.lastSeq) {
      if (isLate(st, h.seq)) return this.#analyseLate(st, h, csvText, name, input);
      throw new SequenceError(`${h.gateway}/${h.patient}: sequence ${h.seq} is not after ${st.lastSeq} (replayed or reordered file)`);
    }
    const { t, rr } = parseInRange(h, csvText, name);
    const n = t.length;
    if (st && n > 0 && t[0]! <= st.lastT) {
      throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `${name}: first beat is not after the last accepted beat`);
    }
    const state: PatientState = st ?? { gateway: h.gateway, patient: h.patient, lastSeq: -1, lastT: -Infinity, window: new StreamingHrvWindow(), active: new Set(), done: new Map()};
    // The first file of a patient sets the baseline; after that a skipped number is flagged, not refused.
    const gap = st ? h.seq - st.lastSeq - 1 : 0;
    if (st) trackSkipped(state, st.lastSeq, h.seq);
    for (let i = 0; i < n; i++) state.window.append(t[i]!, rr[i]!);
    if (this.#journal) {
      const dirty = this.#dirty.get(key) ?? { t: [], rr: [], seqs: [] };
      this.#dirty.set(key, dirty);
      for (let i = 0; i < n; i++) {
        dirty.t.push(t[i]!);
        dirty.rr.push(rr[i]!);
      }
      dirty.seqs.push(h.seq);
    }
    state.lastSeq = h.seq;
    state.done.set(h.seq, { input });
    evictReceipts(state);
    if (n > 0) {
      state.lastT = t[n - 1]!;
      state.window.evictBefore(state.lastT - WINDOW_MS);
    }
    this.#patients.set(key, state);
    if (measuresDue(state, this.#cadenceMs)) {
      state.measured = measureWindow(state.window.series());
      if (this.#journal) this.#dirty.get(key)!.measured = true;
    }
    // The alerts' trailing spans only: between full computations the window is not copied whole.
    const series = state.window.series(state.lastT - Math.max(ALERT_RULES.rateSpanMs, ALERT_RULES.irregularSpanMs));
    const onsets: AlertOnset[] = [];
    const rhythm = trailingRhythm(series, state.lastT);
    if (n > 0) {
      const rate = trailingRate(series, state.lastT);
      const update = (type: AlertType, on: boolean, value: number): void => {
        if (on && !state.active.has(type)) onsets.push({ type, onset_ms: state.lastT, value });
        if (on) state.active.add(type);
        else state.active.delete(type);
      };
      const rateKnown = rate.bpm !== null && rate.coverageMs >= ALERT_RULES.rateMinCoverageMs;
      update('tachycardia', rateKnown && rate.bpm! > ALERT_RULES.tachycardiaBpm, rate.bpm ?? 0);
      update('bradycardia', rateKnown && rate.bpm! < ALERT_RULES.bradycardiaBpm, rate.bpm ?? 0);
      update('irregular_rhythm', rhythm?.af_suspected === true, rhythm?.irregularity ?? 0);
    }
    const result: HrvResult = {
      v: 2,
      patient: h.patient,
      seq: h.seq,
      gap,
      t_start_ms: h.t_start_ms,
      t_end_ms: h.t_end_ms,
      rr: { t_ms: Array.from(t), rr_ms: Array.from(rr) },
      original: n > 0 ? originalBlockMeasures({ tMs: t, rrMs: rr }, 10) : [],
      window: windowSummary(state.window.bounds(), state.window.size, state.measured!, rhythm === null ? null : rhythm.af_suspected),
      active_alerts: ALERT_TYPES.filter((a) => state.active.has(a)),
      alerts: onsets,
    };
    return { result, beats: n, alerts: onsets.length, gap };
  }

  /**
   * A late file (see `classify`): analysed alone (`analyseAlone`); only its receipt enters the state, so a
   * redelivery gets this result back and the stream's window, alerts and lastSeq stay as they were (nothing counted
   * twice, the stream's later results unchanged). Its beats must precede the last accepted beat, as a file before
   * an analysed successor does.
   */
  #analyseLate(st: PatientState, h: BatchMeta, csvText: string, name: string, input: string): Analysis {
    const result = analyseAlone(h, csvText, name);
    const n = result.rr.t_ms.length;
    if (n > 0 && result.rr.t_ms[n - 1]! >= st.lastT) {
      throw new EnvelopeError('HRV_ERR_ENVELOPE_CONTENT', `${name}: a late file's beats are not before the last accepted beat`);
    }
    st.done.set(h.seq, { input });
    st.skipped?.delete(h.seq);
    if (this.#journal) {
      const key = `${h.gateway}/${h.patient}`;
      const dirty = this.#dirty.get(key) ?? { t: [], rr: [], seqs: [] };
      this.#dirty.set(key, dirty);
      dirty.seqs.push(h.seq);
    }
    return { result, beats: n, alerts: 0, gap: 0 };
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
      const d: StateMeta['d'] = [...st.done].map(([seq, r]) => [seq, r.input, r.result ? Buffer.from(r.result).toString('base64') : null]);
      meta.push({ g: st.gateway, p: st.patient, s: st.lastSeq, t: Number.isFinite(st.lastT) ? st.lastT : -1, n: s.tMs.length, a: [...st.active], d, ...(st.skipped ? { m: [...st.skipped] } : {}), ...(st.measured ? { f: storeMeasured(st.measured) } : {}) });
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
      this.#dirty.clear();
      this.#acked = [];
      let o = 0;
      for (const m of meta) {
        const w = new StreamingHrvWindow();
        for (let i = 0; i < m.n; i++) w.append(f[o + i]!, f[o + m.n + i]!);
        o += 2 * m.n;
        const done = new Map<number, Receipt>((m.d ?? []).map(([seq, input, result]) => [seq, result === null ? { input } : { input, result: new Uint8Array(Buffer.from(result, 'base64')) }]));
        this.#patients.set(`${m.g}/${m.p}`, { gateway: m.g, patient: m.p, lastSeq: m.s, lastT: m.t < 0 ? -Infinity : m.t, window: w, active: new Set(m.a), done, ...(m.m ? { skipped: new Set(m.m) } : {}), ...(m.f ? { measured: loadMeasured(m.f) } : {}) });
      }
    } catch (err) {
      throw new HrvaultError('HRV_ERR_SEALING', 'saved analysis state is unreadable', { cause: err });
    }
  }
}
