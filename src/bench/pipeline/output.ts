/** The harness's outputs: CSV rows and the JSON document a run writes under bench-results/. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MachineInfo } from './machine.js';
import type { PointResult } from './point.js';
import type { SearchResult } from './search.js';

/** A run of one sweep kind: what `docs/benchmarks.md` is generated from. */
export interface BenchRun {
  kind: 'clients' | 'load';
  command: string;
  started: string;
  machine: MachineInfo;
  points: PointResult[];
  /** `workers`: a JetStream search (absent: the embedded scheduler's). */
  searches: (SearchResult & { mode: 'secure' | 'plain'; variable: 'clients' | 'rate'; clients: number; rate: number; workers?: number })[];
}

/** The file `npm run bench -- --suite pipeline` writes: a client sweep and a load sweep. */
export interface PipelineBench {
  runs: BenchRun[];
}

const COLUMNS: (keyof PointResult)[] = [
  'mode', 'clients', 'rate', 'batch_interval_s', 'duration_s', 'batches', 'batch_ms_mean', 'batch_ms_p50', 'batch_ms_p99', 'batch_ms_max', 'batch_phases_ms_mean',
  'e2e_ms_p50', 'e2e_ms_p99', 'beats_per_s', 'bytes_per_s', 'data_bytes_per_s', 'files_sent', 'results_verified', 'results_rejected', 'results_missing',
  'uploads_kept_up', 'backlog_end', 'backlog_growing', 'skipped_ticks', 'host_cpu_pct', 'host_rss_max_mb', 'enclave_cpu_pct', 'enclave_rss_max_mb',
  'generator_cpu_pct', 'generator_rss_max_mb', 'upload_lag_ms_max', 'pinned', 'first_error', 'stable',
  'workers', 'worker_cpu_pct', 'worker_enclave_cpu_pct', 'nats_cpu_pct', 'worker_files', 'cpu_ms_per_file',
];

const cell = (v: unknown): string => {
  // Lists space-separated; the phase means as `list=… read=…`.
  const s = v === null || v === undefined ? '' : Array.isArray(v) ? v.join(' ') : typeof v === 'object' ? Object.entries(v).map(([k, x]) => `${k}=${String(x)}`).join(' ') : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** CSV of points: a header line, then one line per point (lists space-separated, empty for null). */
export function toCsv(points: readonly PointResult[]): string {
  return [COLUMNS.join(','), ...points.map((p) => COLUMNS.map((c) => cell(p[c])).join(','))].join('\n') + '\n';
}

/** Writes `<dir>/pipeline-<kind>.csv` and `.json`; returns their paths. */
export function writeRun(dir: string, run: BenchRun): { csv: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const csv = join(dir, `pipeline-${run.kind}.csv`);
  const json = join(dir, `pipeline-${run.kind}.json`);
  writeFileSync(csv, toCsv(run.points));
  writeFileSync(json, JSON.stringify(run, null, 2) + '\n');
  return { csv, json };
}

/** A fixed-width table of points for the terminal (the `--json` lines hold every field). */
export function formatPoints(points: readonly PointResult[]): string {
  const head = ['mode', 'clients', 'rate', 'batch ms mean', 'p99', 'max', 'e2e p99', 'beats/s', 'kB/s', 'backlog end', 'cpu% host/encl/gen', 'stable'];
  const v = (x: number | null): string => (x === null ? '–' : String(Math.round(x)));
  const rows = points.map((p) => [
    p.workers === undefined ? p.mode : `js×${p.workers}`,
    String(p.clients),
    String(p.rate),
    v(p.batch_ms_mean),
    v(p.batch_ms_p99),
    v(p.batch_ms_max),
    v(p.e2e_ms_p99),
    v(p.beats_per_s),
    p.bytes_per_s === null ? '–' : (p.bytes_per_s / 1000).toFixed(1),
    p.backlog_end.length > 6 ? `${p.backlog_end.slice(0, 3).join(' ')} … ${p.backlog_end.at(-1)}` : p.backlog_end.join(' '),
    p.workers === undefined ? `${v(p.host_cpu_pct)}/${v(p.enclave_cpu_pct)}/${v(p.generator_cpu_pct)}` : `${v(p.host_cpu_pct)}/${v((p.worker_cpu_pct ?? 0) + (p.worker_enclave_cpu_pct ?? 0))}/${v(p.generator_cpu_pct)} nats ${v(p.nats_cpu_pct ?? null)}`,
    p.stable ? 'yes' : 'NO',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padStart(w[i]!)).join('  ')).join('\n') + '\n';
}
