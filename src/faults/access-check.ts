/**
 * The invariants of the scenarios with the access services, read from what the CSP stored: I1 over the beats of
 * the stored `rr_batch` records, I3 by analysing those batches again and comparing the stored `hrv` records, and
 * I4 from `hrvault audit verify` plus a comparison of the SP's records with the CSP's index (every record the SP
 * holds is indexed, so the audit check that every indexed record has its entry covers all of them).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { recordsFromResult, type HrvRecordData, type RrBatchData } from '../contracts/index.js';
import { HrvAnalyser } from '../enclave/index.js';
import { formatRrCsv } from '../hrv/index.js';
import { openSqlDb } from '../sql/index.js';
import { runCli } from '../test-support/processes.js';
import type { StoredRecord } from './access-stack.js';
import type { AnalysedBatch, SensorBeat } from './checker.js';
import { plaintextFindings } from './plaintext.js';

/** The stored `rr_batch` records as the checker's batches (I1 counts every beat of every stored copy). */
export function storedBatches(records: readonly StoredRecord[]): AnalysedBatch[] {
  return records
    .filter((r) => r.type === 'rr_batch')
    .map((r) => {
      const beats = (r.data as RrBatchData).beats;
      return { patient: r.patient, seq: r.seq, tMs: beats.t_ms, rrMs: beats.rr_ms };
    });
}

/** JSON with object keys sorted, so that a record read back compares equal to one built here. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))) : x,
  );
}

/**
 * (I3) the stored results equal a clean run's on the same batches: each patient's stored `rr_batch` beats, in
 * the gateway's sequence order, are analysed again by a fresh `HrvAnalyser`, and the `hrv` record that result
 * becomes must equal the stored one. Also reports a result stored more than once, or an `hrv` record without its
 * `rr_batch` (or the reverse). Returns the differences (empty = holds).
 */
export function checkStoredCleanRun(records: readonly StoredRecord[], gateway: string): string[] {
  const diffs: string[] = [];
  const byPatient = new Map<string, { hrv: Map<number, StoredRecord[]>; rr: Map<number, StoredRecord[]> }>();
  for (const r of records) {
    const p = byPatient.get(r.patient) ?? { hrv: new Map(), rr: new Map() };
    byPatient.set(r.patient, p);
    const m = r.type === 'hrv' ? p.hrv : p.rr;
    m.set(r.seq, [...(m.get(r.seq) ?? []), r]);
  }
  for (const [patient, { hrv, rr }] of [...byPatient].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const analyser = new HrvAnalyser();
    for (const seq of [...new Set([...hrv.keys(), ...rr.keys()])].sort((a, b) => a - b)) {
      const h = hrv.get(seq) ?? [];
      const b = rr.get(seq) ?? [];
      if (h.length !== 1 || b.length !== 1) {
        diffs.push(`${patient} seq ${seq}: stored ${h.length} hrv and ${b.length} rr_batch record(s), not one of each`);
        if (h.length === 0 || b.length === 0) continue;
      }
      const beats = (b[0]!.data as RrBatchData).beats;
      const tEnd = b[0]!.t_ms;
      // The batch's start is not stored (the hrv record keeps the window's); the analyser only checks the beats lie after it.
      const meta = { gateway, patient, seq, t_start_ms: Math.min(beats.t_ms[0] ?? tEnd, tEnd), t_end_ms: tEnd };
      let clean: HrvRecordData;
      try {
        const result = analyser.analyse(meta, formatRrCsv({ tMs: Float64Array.from(beats.t_ms), rrMs: Float64Array.from(beats.rr_ms) }), `${patient}-${seq}`).result;
        clean = recordsFromResult(gateway, result)[0].data;
      } catch (err) {
        diffs.push(`${patient} seq ${seq}: a clean run refuses this batch (${err instanceof Error ? err.message : String(err)})`);
        continue;
      }
      const stored = h[0]!.data as HrvRecordData;
      if (canonical(clean) !== canonical(stored)) {
        const fields = (Object.keys(clean) as (keyof HrvRecordData)[]).filter((k) => canonical(clean[k]) !== canonical(stored[k]));
        diffs.push(`${patient} seq ${seq}: the stored hrv record differs from the clean run in ${fields.join(', ')}`);
      }
    }
  }
  return diffs;
}

/**
 * (I4) with both services stopped: `hrvault audit verify --json` on the CSP's data says ok (chain, anchor, and an
 * entry for every indexed record), every record the SP holds is in the CSP's index (so none is stored without
 * its entry), no append intent is left unsettled, and no record was written off as lost. Returns the problems.
 */
export async function checkAudit(cspDir: string, spDir: string): Promise<string[]> {
  const problems: string[] = [];
  const verify = await runCli(['audit', 'verify', '--data-dir', cspDir, '--json']);
  let answer: { ok?: boolean; entries?: number; problem?: string } = {};
  try {
    answer = JSON.parse(verify.stdout) as typeof answer;
  } catch {
    // reported below with the output
  }
  if (verify.code !== 0 || answer.ok !== true) problems.push(`audit verify: exit ${verify.code}, ${verify.stdout.trim() || verify.stderr.trim().slice(-500)}`);
  const key = (r: { patient_ref: string; seq: number }): string => `${r.patient_ref}/${r.seq}`;
  const sp = await openSqlDb(join(spDir, 'sp', 'db'));
  let spRows: { patient_ref: string; seq: number }[];
  try {
    spRows = await sp.query<{ patient_ref: string; seq: number }>('SELECT patient_ref, seq FROM sp_records');
  } finally {
    await sp.close();
  }
  const csp = await openSqlDb(join(cspDir, 'csp', 'db'));
  try {
    const indexed = new Set((await csp.query<{ patient_ref: string; seq: number }>('SELECT patient_ref, seq FROM csp_record_index')).map(key));
    const unindexed = spRows.filter((r) => !indexed.has(key(r)));
    if (unindexed.length > 0) problems.push(`${unindexed.length} record(s) stored at the SP are not in the CSP's index (no audit entry accounts for them; first ${key(unindexed[0]!)})`);
    const spKeys = new Set(spRows.map(key));
    const phantom = [...indexed].filter((k) => !spKeys.has(k));
    if (phantom.length > 0) problems.push(`${phantom.length} indexed record(s) are not at the SP (first ${phantom[0]})`);
    const [intents] = await csp.query<{ c: number | string }>('SELECT count(*) AS c FROM csp_append_intents');
    if (Number(intents?.c ?? 0) > 0) problems.push(`${intents!.c} append intent(s) left unsettled`);
    const [lost] = await csp.query<{ c: number | string }>('SELECT count(*) AS c FROM csp_lost_records');
    if (Number(lost?.c ?? 0) > 0) problems.push(`${lost!.c} record(s) written off as lost by the SP`);
  } finally {
    await csp.close();
  }
  return problems;
}

/** (I2, the SP's part) the SP's data directory and its processes' logs, scanned for the run's plaintext. */
export function scanSp(spDir: string, logs: readonly { name: string; text: string }[], expected: ReadonlyMap<string, readonly SensorBeat[]>): string[] {
  const files = readdirSync(spDir, { recursive: true, encoding: 'utf8' })
    .map((rel) => join(spDir, rel))
    .filter((p) => statSync(p).isFile());
  const texts: [string, string][] = files.map((f) => [f, readFileSync(f).toString('latin1')]);
  for (const l of logs) texts.push([l.name, l.text]);
  return plaintextFindings(texts, expected);
}

/** The CSP's audit entries counted by action (with the CSP stopped), e.g. how many key renewals it made. */
export async function auditActions(cspDir: string): Promise<Record<string, number>> {
  const db = await openSqlDb(join(cspDir, 'csp', 'db'));
  try {
    const rows = await db.query<{ action: string; c: number | string }>("SELECT entry::jsonb ->> 'action' AS action, count(*) AS c FROM csp_audit GROUP BY 1");
    return Object.fromEntries(rows.map((r) => [r.action, Number(r.c)]));
  } finally {
    await db.close();
  }
}
