/**
 * The exact checker of the fault-injection suite: every beat the deterministic sensors produced is known in
 * advance (same seeds, same start time), so every beat an analysed result carries can be mapped back to the
 * (patient, seq) it came from, and every acknowledged beat must be found exactly once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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
}

export interface ExactlyOnceReport {
  ok: boolean;
  acked: number;
  analysed: number;
  missing: number;
  duplicated: number;
  unknown: number;
  perPatient: Record<string, PatientTally>;
}

/**
 * (I1) every acknowledged beat analysed exactly once. `ackedSeqs` gives, per patient, the sequence numbers the
 * broker acknowledged to the sensor; a beat that was never acknowledged may be analysed or not (once at most).
 */
export function checkExactlyOnce(
  expected: ReadonlyMap<string, readonly SensorBeat[]>,
  ackedSeqs: ReadonlyMap<string, ReadonlySet<number>>,
  analysed: readonly AnalysedBatch[],
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
    const t: PatientTally = { acked: acked.size, analysed: 0, missing: 0, duplicated: 0, unknown: unknown.get(p) ?? 0, missingSeqs: [], duplicatedSeqs: [] };
    for (const seq of [...acked].sort((a, b) => a - b)) {
      if (!counts.has(seq)) {
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
  const sum = (k: 'acked' | 'analysed' | 'missing' | 'duplicated' | 'unknown'): number => Object.values(perPatient).reduce((s, t) => s + t[k], 0);
  const r = { acked: sum('acked'), analysed: sum('analysed'), missing: sum('missing'), duplicated: sum('duplicated'), unknown: sum('unknown'), perPatient };
  return { ok: r.missing === 0 && r.duplicated === 0 && r.unknown === 0, ...r };
}

/** The first `count` sequence numbers of each patient: what a QoS 1 publisher that sends in order has had acknowledged. */
export function ackedPrefix(perPatient: Readonly<Record<string, number>>): Map<string, Set<number>> {
  return new Map(Object.entries(perPatient).map(([p, n]) => [p, new Set(Array.from({ length: n }, (_, i) => i + 1))]));
}

interface EntryFile {
  patient: string;
  result: { seq: number; rr: { t_ms: number[]; rr_ms: number[] } };
}

/**
 * The results a gateway verified and kept for the CSP (`<spool>/results/entries`, plus any it set aside as
 * refused in `rejected/`): with no CSP reachable nothing is delivered, so these are all of them.
 */
export function readKeptResults(spoolDir: string): AnalysedBatch[] {
  const out: AnalysedBatch[] = [];
  for (const sub of ['entries', 'rejected']) {
    let names: string[];
    try {
      names = readdirSync(join(spoolDir, 'results', sub));
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      if (!/^\d{12}\.json$/.test(name)) continue;
      const e = JSON.parse(readFileSync(join(spoolDir, 'results', sub, name), 'utf8')) as EntryFile;
      out.push({ patient: e.patient, seq: e.result.seq, tMs: e.result.rr.t_ms, rrMs: e.result.rr.rr_ms });
    }
  }
  return out;
}

/** One line per invariant, and the patients that break I1, for the test log. */
export function formatExactlyOnce(r: ExactlyOnceReport): string {
  const head = `I1 every acknowledged beat analysed exactly once: ${r.ok ? 'HOLDS' : 'BROKEN'} (acked ${r.acked}, analysed ${r.analysed}, missing ${r.missing}, duplicated ${r.duplicated}, unknown ${r.unknown})`;
  const bad = Object.entries(r.perPatient)
    .filter(([, t]) => t.missing + t.duplicated + t.unknown > 0)
    .map(([p, t]) => `  ${p}: acked ${t.acked}, missing ${t.missing}${t.missingSeqs.length ? ` (seq ${t.missingSeqs.join(',')}…)` : ''}, duplicated ${t.duplicated}${t.duplicatedSeqs.length ? ` (seq ${t.duplicatedSeqs.join(',')}…)` : ''}, unknown ${t.unknown}`);
  return [head, ...bad].join('\n');
}
