/** Shared pieces of the end-to-end tests: scanning the host's files and the run's own plaintext. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { syntheticPatients, syntheticSeries } from '../sensor/index.js';

/** Every file under `dir`, recursively. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/** The `time_ms,rr_ms` lines the run's sensors produced (same seed, same start), as the CSV writes them. */
export function runCsvLines(patients: number, durationS: number, startMs: number, seed = 1): Set<string> {
  const lines = new Set<string>();
  for (const p of syntheticPatients(patients, seed)) {
    const s = syntheticSeries(p, durationS);
    for (let i = 0; i < s.tMs.length; i++) lines.add(`${startMs + s.tMs[i]!},${s.rrMs[i]!}`);
  }
  return lines;
}

/** Plaintext of the run found in the files under `dir`: CSV lines, the CSV header, patient ids. */
export function plaintextFindings(dir: string, lines: Set<string>, patientIds: string[]): string[] {
  const findings: string[] = [];
  for (const f of filesUnder(dir)) {
    const text = readFileSync(f).toString('latin1');
    for (const m of text.matchAll(/\d{10,},\d{3,4}/g))
      if (lines.has(m[0])) findings.push(`${f}: CSV line ${m[0]}`);
    if (text.includes('time_ms,rr_ms')) findings.push(`${f}: CSV header`);
    for (const id of patientIds) if (text.includes(id)) findings.push(`${f}: patient id ${id}`);
  }
  return findings;
}
