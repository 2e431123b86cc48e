/**
 * The exact checker of the fault-injection suite: every beat the deterministic sensors produced is known in
 * advance (same seeds, same start time), so every beat an analysed result carries can be mapped back to the
 * (patient, seq) it came from, and every acknowledged beat must be found exactly once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HrvResult } from '../contracts/index.js';
import { analyseAlone, HrvAnalyser, type BatchMeta } from '../enclave/index.js';
import { formatRrCsv } from '../hrv/index.js';
import { SyntheticPatient, type PatientParams } from '../sensor/index.js';

/** One sensor beat: its sequence number, absolute time (ms since the epoch) and interval (ms). */
export interface SensorBeat {
  seq: number;
  tMs: number;
  rrMs: number;
}

/** Per patient, the beats the sensors publish in `durationS` simulated seconds from `startMs` (ms since the epoch). */
export function expectedBeats(patients: readonly PatientParams[], durationS: number, startMs: number): Map<string, SensorBeat[]> {
  const out = new Map<string, SensorBeat[]>();
  for (const p of patients) {
    const gen = new SyntheticPatient(p);
    const beats: SensorBeat[] = [];
    for (let b = gen.next(); b.tMs <= durationS * 1000; b = gen.next()) beats.push({ seq: b.seq, tMs: startMs + b.tMs, rrMs: b.rrMs });
    out.set(p.patient, beats);
  }
  return out;
}

/** One analysed batch as the gateway verified it: the real patient id and the beats the result carries. */
export interface AnalysedBatch {
  patient: string;
  /** The batch's sequence number (per patient, the gateway's). */
  seq: number;
  tMs: readonly number[];
  rrMs: readonly number[];
}

/** I1 for one patient. */
export interface PatientTally {
  acked: number;
  analysed: number;
  /** Acknowledged beats found in no result. */
  missing: number;
  /** Extra copies of beats found in more than one place (a beat seen 3 times counts 2). */
  duplicated: number;
  /** Beats in results that no sensor produced, or whose interval differs from the sensor's (corruption). */
  unknown: number;
  /** The first few missing sequence numbers, for the message. */
  missingSeqs: number[];
  duplicatedSeqs: number[];
  /** Beats the scenario expects quarantined (`excluded`) that a result carries anyway. */
  excludedAnalysed: number;
}

export interface ExactlyOnceReport {
  ok: boolean;
  acked: number;
  analysed: number;
  missing: number;
  duplicated: number;
  unknown: number;
  /** Excluded beats (expected quarantined) found in a result. */
  excludedAnalysed: number;
  perPatient: Record<string, PatientTally>;
}

/**
 * (I1) every acknowledged beat analysed exactly once. `ackedSeqs` gives, per patient, the sequence numbers the
 * broker acknowledged to the sensor; a beat that was never acknowledged may be analysed or not (once at most).
 * `excluded` (per patient, sequence numbers) are beats that must be in no result — an injected impossible time
 * the gateway must quarantine alone: not counted missing, counted `excludedAnalysed` when found.
 */
export function checkExactlyOnce(
  expected: ReadonlyMap<string, readonly SensorBeat[]>,
  ackedSeqs: ReadonlyMap<string, ReadonlySet<number>>,
  analysed: readonly AnalysedBatch[],
  excluded: ReadonlyMap<string, ReadonlySet<number>> = new Map(),
): ExactlyOnceReport {
  const byTime = new Map<string, Map<number, SensorBeat>>();
  for (const [p, beats] of expected) byTime.set(p, new Map(beats.map((b) => [b.tMs, b])));
  const seen = new Map<string, Map<number, number>>();
  const unknown = new Map<string, number>();
  for (const batch of analysed) {
    const index = byTime.get(batch.patient);
    const counts = seen.get(batch.patient) ?? new Map<number, number>();
    seen.set(batch.patient, counts);
    for (let i = 0; i < batch.tMs.length; i++) {
      const b = index?.get(batch.tMs[i]!);
      if (b === undefined || b.rrMs !== batch.rrMs[i]) {
        unknown.set(batch.patient, (unknown.get(batch.patient) ?? 0) + 1);
        continue;
      }
      counts.set(b.seq, (counts.get(b.seq) ?? 0) + 1);
    }
  }
  const perPatient: Record<string, PatientTally> = {};
  const patients = new Set([...expected.keys(), ...seen.keys()]);
  for (const p of [...patients].sort()) {
    const acked = ackedSeqs.get(p) ?? new Set<number>();
    const counts = seen.get(p) ?? new Map<number, number>();
    const out = excluded.get(p) ?? new Set<number>();
    const t: PatientTally = { acked: acked.size, analysed: 0, missing: 0, duplicated: 0, unknown: unknown.get(p) ?? 0, missingSeqs: [], duplicatedSeqs: [], excludedAnalysed: 0 };
    for (const seq of out) if (counts.has(seq)) t.excludedAnalysed++;
    for (const seq of [...acked].sort((a, b) => a - b)) {
      if (!counts.has(seq) && !out.has(seq)) {
        t.missing++;
        if (t.missingSeqs.length < 10) t.missingSeqs.push(seq);
      }
    }
    for (const [seq, n] of [...counts].sort((a, b) => a[0] - b[0])) {
      t.analysed += n;
      if (n > 1) {
        t.duplicated += n - 1;
        if (t.duplicatedSeqs.length < 10) t.duplicatedSeqs.push(seq);
      }
    }
    perPatient[p] = t;
  }
  const sum = (k: 'acked' | 'analysed' | 'missing' | 'duplicated' | 'unknown' | 'excludedAnalysed'): number => Object.values(perPatient).reduce((s, t) => s + t[k], 0);
  const r = { acked: sum('acked'), analysed: sum('analysed'), missing: sum('missing'), duplicated: sum('duplicated'), unknown: sum('unknown'), excludedAnalysed: sum('excludedAnalysed'), perPatient };
  return { ok: r.missing === 0 && r.duplicated === 0 && r.unknown === 0 && r.excludedAnalysed === 0, ...r };
}

/** The first `count` sequence numbers of each patient: what a QoS 1 publisher that sends in order has had acknowledged. */
export function ackedPrefix(perPatient: Readonly<Record<string, number>>): Map<string, Set<number>> {
  return new Map(Object.entries(perPatient).map(([p, n]) => [p, new Set(Array.from({ length: n }, (_, i) => i + 1))]));
}

/** One result the gateway kept: the real patient id and the verified `HrvResult`. */
export interface KeptResult {
  patient: string;
  result: HrvResult;
}

/**
 * The results a gateway verified and kept for the CSP (`<spool>/results/entries`, plus any it set aside as
 * refused in `rejected/`): with no CSP reachable nothing is delivered, so these are all of them.
 */
export function readKeptResults(spoolDir: string): AnalysedBatch[] {
  return readKeptEntries(spoolDir).map((e) => ({ patient: e.patient, seq: e.result.seq, tMs: e.result.rr.t_ms, rrMs: e.result.rr.rr_ms }));
}

/** The kept results themselves (see readKeptResults), in the outbox's order. */
export function readKeptEntries(spoolDir: string): KeptResult[] {
  const out: KeptResult[] = [];
  for (const sub of ['entries', 'rejected']) {
    let names: string[];
    try {
      names = readdirSync(join(spoolDir, 'results', sub));
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      if (!/^\d{12}\.json$/.test(name)) continue;
      out.push(JSON.parse(readFileSync(join(spoolDir, 'results', sub, name), 'utf8')) as KeptResult);
    }
  }
  return out;
}

/** One line per invariant, and the patients that break I1, for the test log. */
export function formatExactlyOnce(r: ExactlyOnceReport): string {
  const excl = r.excludedAnalysed > 0 ? `, excluded yet analysed ${r.excludedAnalysed}` : '';
  const head = `I1 every acknowledged beat analysed exactly once: ${r.ok ? 'HOLDS' : 'BROKEN'} (acked ${r.acked}, analysed ${r.analysed}, missing ${r.missing}, duplicated ${r.duplicated}, unknown ${r.unknown}${excl})`;
  const bad = Object.entries(r.perPatient)
    .filter(([, t]) => t.missing + t.duplicated + t.unknown + t.excludedAnalysed > 0)
    .map(([p, t]) => `  ${p}: acked ${t.acked}, missing ${t.missing}${t.missingSeqs.length ? ` (seq ${t.missingSeqs.join(',')}…)` : ''}, duplicated ${t.duplicated}${t.duplicatedSeqs.length ? ` (seq ${t.duplicatedSeqs.join(',')}…)` : ''}, unknown ${t.unknown}${t.excludedAnalysed ? `, excluded yet analysed ${t.excludedAnalysed}` : ''}`);
  return [head, ...bad].join('\n');
}

/**
 * (I3) results equal a clean run's on the same input: each patient's kept results, in sequence order, are fed
 * again as the same batches to a fresh analyser (the enclave's own analysis code, in this process, never
 * interrupted) and must come out identical — window, measures, gap, alerts. A result computed from lost or
 * rolled-back enclave state (a window that restarted, a gap that is not one, an alert raised twice) differs.
 * A result flagged `late` (its file came after a later one was analysed without it) is what the enclave made of
 * that file alone: it is recomputed alone (`analyseAlone`), and the stream is replayed without it — the order the
 * enclave analysed in. A late flag with no later file of the patient kept is itself a difference.
 * Returns the differences (empty = holds).
 */
export function checkCleanRun(kept: readonly KeptResult[], gateway: string): string[] {
  const analyser = new HrvAnalyser();
  const diffs: string[] = [];
  const ordered = [...kept].sort((a, b) => (a.patient === b.patient ? a.result.seq - b.result.seq : a.patient < b.patient ? -1 : 1));
  const lastInStream = new Map<string, number>();
  for (const { patient, result } of ordered) if (result.late !== true) lastInStream.set(patient, result.seq);
  for (const { patient, result } of ordered) {
    const meta: BatchMeta = { gateway, patient: result.patient, seq: result.seq, t_start_ms: result.t_start_ms, t_end_ms: result.t_end_ms };
    const csv = formatRrCsv({ tMs: Float64Array.from(result.rr.t_ms), rrMs: Float64Array.from(result.rr.rr_ms) });
    if (result.late === true && !(result.seq < (lastInStream.get(patient) ?? -1))) {
      diffs.push(`${patient} seq ${result.seq}: flagged late, but no later file of ${patient} was analysed`);
      continue;
    }
    let clean: HrvResult;
    try {
      clean = result.late === true ? analyseAlone(meta, csv, `${patient}-${result.seq}`) : analyser.analyse(meta, csv, `${patient}-${result.seq}`).result;
    } catch (err) {
      diffs.push(`${patient} seq ${result.seq}: a clean run refuses this batch (${err instanceof Error ? err.message : String(err)})`);
      continue;
    }
    // The enclave state commit a result names (rollback detection) is not part of the analysis.
    const { state_commit: _commit, ...analysed } = result;
    if (canonical(clean) !== canonical(analysed)) {
      const fields = (Object.keys(analysed) as (keyof typeof analysed)[]).filter((k) => canonical(clean[k]) !== canonical(analysed[k]));
      diffs.push(`${patient} seq ${result.seq}: differs from the clean run in ${fields.join(', ')}`);
    }
  }
  return diffs;
}

/** JSON with object keys sorted (a value parsed by a schema may list its keys in another order). */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))) : x,
  );
}

/** Sequence numbers of a later boot epoch are offset by this, so that the checker tells the epochs apart. */
const EPOCH_STRIDE = 1_000_000;

/** A boot epoch's beats (epoch 0 = the first boot), renumbered epoch·1,000,000 + seq. */
export function epochBeats(m: ReadonlyMap<string, readonly SensorBeat[]>, epoch: number): Map<string, SensorBeat[]> {
  return new Map([...m].map(([p, beats]) => [p, beats.map((b) => ({ ...b, seq: epoch * EPOCH_STRIDE + b.seq }))]));
}

/** The beats of several epochs per patient (their times must not overlap: a device's clock goes on across a reboot). */
export function mergeBeats(...maps: ReadonlyMap<string, readonly SensorBeat[]>[]): Map<string, SensorBeat[]> {
  const out = new Map<string, SensorBeat[]>();
  for (const m of maps) for (const [p, beats] of m) out.set(p, [...(out.get(p) ?? []), ...beats]);
  return out;
}

/** The acknowledged sets of epoch 0 and of a later epoch (renumbered as epochBeats does). */
export function mergeAcked(first: ReadonlyMap<string, ReadonlySet<number>>, later: ReadonlyMap<string, ReadonlySet<number>>, epoch: number): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>([...first].map(([p, s]) => [p, new Set(s)]));
  for (const [p, s] of later) {
    const set = out.get(p) ?? new Set<number>();
    for (const seq of s) set.add(epoch * EPOCH_STRIDE + seq);
    out.set(p, set);
  }
  return out;
}

/** The sequence number epochBeats gives beat `seq` of boot epoch `epoch` (epoch 0 = the first boot). */
export function epochSeq(epoch: number, seq: number): number {
  return epoch * EPOCH_STRIDE + seq;
}

/** The expected beats with each listed beat's time shifted by its step (ms), as the sensors' clockSteps send them. */
export function withClockSteps(m: ReadonlyMap<string, readonly SensorBeat[]>, steps: readonly { patient: string; seq: number; deltaMs: number }[]): Map<string, SensorBeat[]> {
  const by = new Map(steps.map((c) => [`${c.patient}#${c.seq}`, c.deltaMs]));
  return new Map([...m].map(([p, beats]) => [p, beats.map((b) => ({ ...b, tMs: b.tMs + (by.get(`${p}#${b.seq}`) ?? 0) }))]));
}
