/**
 * HRV per file, incremental against from scratch: what the enclave's (and the plain host's) analyser spends on one
 * patient's 10-s batch file when the window measures follow the cadence (MEASURE_CADENCE_MS) and when they are
 * recomputed on every file (cadence 0, the analysis before the cadence), at a given number of patients.
 */
import { performance } from 'node:perf_hooks';
import { HrvAnalyser, MEASURE_CADENCE_MS, type BatchMeta } from '../enclave/index.js';
import { formatRrCsv } from '../hrv/index.js';
import type { BenchRow } from './hrv-bench.js';

const FILE_MS = 10_000;
/** Files per cadence cycle: timing whole cycles gives the amortised cost (1 file in 6 recomputes at 60 s). */
const CYCLE = Math.round(MEASURE_CADENCE_MS / FILE_MS);

/**
 * Patient p's file covering [t0, t1): sinus rhythm at 55–95 bpm with respiratory sway, and a premature beat with
 * its compensatory pause every 41st beat, so cleaning has work to do.
 */
function batch(p: number, seq: number, t0: number, t1: number): [BatchMeta, string, string] {
  const base = 60_000 / (55 + (p % 41));
  const t: number[] = [];
  const rr: number[] = [];
  let now = t0;
  for (let i = 0; ; i++) {
    const k = (p * 7 + seq * 13 + i) % 41;
    const x = Math.round(base + 35 * Math.sin((2 * Math.PI * now) / (3500 + (p % 9) * 100)) + (k === 0 ? -0.3 * base : k === 1 ? 0.3 * base : 0));
    if (now + x >= t1) break;
    now += x;
    t.push(now);
    rr.push(x);
  }
  const csv = formatRrCsv({ tMs: Float64Array.from(t), rrMs: Float64Array.from(rr) });
  return [{ gateway: 'gw-bench', patient: `p${p}`, seq, t_start_ms: t0, t_end_ms: t1 }, csv, `p${p}-${seq}`];
}

/** Analysers holding `patients` full 5-minute windows, each patient a different number of files into its cadence cycle. */
function warmState(patients: number): { blob: Uint8Array; next: number[] } {
  // Five 60-s files fill the window cheaply (no full computation: an endless cadence), then 0–5 staggering files.
  const warm = new HrvAnalyser({ cadenceMs: Number.MAX_SAFE_INTEGER });
  for (let p = 0; p < patients; p++) for (let s = 0; s < 5; s++) warm.analyse(...batch(p, s, s * 60_000, (s + 1) * 60_000));
  const blob = warm.save();
  return { blob, next: Array.from({ length: patients }, () => 5) };
}

/** Mean ms per file over `rounds` rounds of one file per patient (each round's files made before it is timed). */
function timeRounds(a: HrvAnalyser, patients: number, next: number[], rounds: number): number[] {
  const perRound: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const files = Array.from({ length: patients }, (_, p) => batchAt(p, next));
    const start = performance.now();
    for (const f of files) a.analyse(...f);
    perRound.push((performance.now() - start) / patients);
  }
  return perRound;
}

function row(name: string, perRound: number[], note: string): BenchRow {
  const sorted = [...perRound].sort((x, y) => x - y);
  const mean = perRound.reduce((s, x) => s + x, 0) / perRound.length;
  return { name, median_ms: mean, p90_ms: sorted[Math.min(sorted.length - 1, Math.floor(0.9 * sorted.length))]!, min_ms: sorted[0]!, runs: perRound.length, note };
}

/**
 * Rows "HRV per file, incremental | from scratch, at N patients": the mean over whole cadence cycles (the "median"
 * column holds that mean; p90 and min are over rounds of one file per patient).
 */
export function hrvPerFileRows(patientCounts: readonly number[], log: (line: string) => void = () => undefined): BenchRow[] {
  const rows: BenchRow[] = [];
  for (const patients of patientCounts) {
    log(`HRV per file at ${patients} patients: warming up…`);
    const { blob, next } = warmState(patients);
    const inc = new HrvAnalyser();
    inc.load(blob);
    const incNext = [...next];
    // Stagger the patients' cadence phases as live streams are (they did not all start together): p gets p % CYCLE files.
    for (let p = 0; p < patients; p++) for (let k = 0; k < p % CYCLE; k++) inc.analyse(...batchAt(p, incNext));
    timeRounds(inc, patients, incNext, 1);
    log(`HRV per file at ${patients} patients: incremental…`);
    const incRounds = timeRounds(inc, patients, incNext, CYCLE);
    rows.push(row(`HRV per file, incremental (${MEASURE_CADENCE_MS / 1000}-s cadence), at ${patients.toLocaleString('en')} patients`, incRounds, `mean over ${CYCLE} rounds of one file per patient (one cadence cycle)`));
    const scratch = new HrvAnalyser({ cadenceMs: 0 });
    scratch.load(blob);
    const scratchNext = [...next];
    timeRounds(scratch, patients, scratchNext, 1);
    log(`HRV per file at ${patients} patients: from scratch…`);
    const scratchRounds = timeRounds(scratch, patients, scratchNext, patients > 2000 ? 2 : CYCLE);
    rows.push(row(`HRV per file, from scratch (every file), at ${patients.toLocaleString('en')} patients`, scratchRounds, `mean over ${scratchRounds.length} rounds of one file per patient`));
  }
  return rows;
}

/** Patient p's next 10-s file (advances its sequence). */
function batchAt(p: number, next: number[]): [BatchMeta, string, string] {
  const seq = next[p]!++;
  const t0 = 300_000 + (seq - 5) * FILE_MS;
  return batch(p, seq, t0, t0 + FILE_MS);
}
