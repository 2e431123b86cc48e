/** The report's JetStream section: its own table, the search per worker count, and the model from CPU per file. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchRun } from './output.js';
import type { PointResult } from './point.js';
import { jetstreamSection } from './report-jetstream.js';
import { writeReport } from './report.js';

const dir = mkdtempSync(join(tmpdir(), 'hrvault-js-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function point(clients: number, workers: number | undefined, stable: boolean, cpu: PointResult['cpu_ms_per_file'], missing = 0): PointResult {
  return {
    mode: 'secure', clients, rate: 1, batch_interval_s: 10, duration_s: 30, batches: 4, batch_ms_mean: 100, batch_ms_p50: 100, batch_ms_p99: 120, batch_ms_max: 130,
    batch_phases_ms_mean: { list: 1, read: 2, analyse: 90, write: 4, file: 3 }, e2e_ms_p50: 8000, e2e_ms_p99: stable ? 12_000 : 25_000, beats_per_s: clients, bytes_per_s: clients * 300,
    data_bytes_per_s: clients * 100, files_sent: 3 * clients, results_verified: 3 * clients, results_rejected: 0, results_missing: missing, uploads_kept_up: true, backlog_end: [0, 0, 0],
    backlog_growing: false, skipped_ticks: 0, host_cpu_pct: 20, host_rss_max_mb: 100, enclave_cpu_pct: workers === undefined ? 30 : null, enclave_rss_max_mb: null, generator_cpu_pct: 10,
    generator_rss_max_mb: 90, upload_lag_ms_max: 500, pinned: true, first_error: null, stable, cpu_ms_per_file: cpu,
    ...(workers === undefined ? {} : { workers, worker_cpu_pct: 10, worker_enclave_cpu_pct: 25, nats_cpu_pct: 8, worker_files: Array.from({ length: workers }, () => (3 * clients) / workers) }),
  };
}

const run: BenchRun = {
  kind: 'clients',
  command: 'hrvault bench clients --jetstream nats://127.0.0.1:4222 --workers 0,1,2 --search',
  started: '2026-12-03T14:00:00.000Z',
  machine: { cpu_model: 'test', cpus: 2, threads_per_core: 1, hypervisor: null, memory_gb: 1, os: 'Linux', node: 'v20', load_avg_1m: 4.2 },
  points: [
    point(1000, undefined, true, { host: 0.1, enclave: 0.5, generator: 0.2 }),
    point(1000, 1, true, { host: 0.2, workers: 0.3, worker_enclaves: 0.5, nats: 0.25, generator: 0.2 }),
    point(1500, 1, false, { host: 0.2, workers: 0.3, worker_enclaves: 0.5, nats: 0.25, generator: 0.2 }),
    point(2000, 1, false, { host: 0.1, workers: 0.1, worker_enclaves: 0.1, nats: 0.1, generator: 0.1 }, 5),
    point(1000, 2, true, { host: 0.2, workers: 0.4, worker_enclaves: 0.6, nats: 0.3, generator: 0.2 }),
  ],
  searches: [
    { mode: 'secure', variable: 'clients', clients: 500, rate: 1, largest_stable: 1000, first_unstable: 2000, probes: [{ x: 1000, stable: true }, { x: 2000, stable: false }] },
    { mode: 'secure', variable: 'clients', clients: 500, rate: 1, workers: 1, largest_stable: 1000, first_unstable: 2000, probes: [{ x: 2000, stable: false }] },
  ],
};

describe('the JetStream section of the report', () => {
  it('lists every point of the run, embedded beside JetStream, and the largest stable clients of each', () => {
    const md = jetstreamSection([run]).join('\n');
    expect(md).toContain('## JetStream mode: clients with 1 and 2 workers');
    expect(md).toContain('1-min load average 4.2');
    expect(md).toMatch(/^\| jetstream ×1 \| \*\*1,000\*\* \| 2,000 \|/m);
    expect(md).toMatch(/^\| secure \| \*\*1,000\*\* \| 2,000 \|/m);
    expect(md.match(/^\| (secure|jetstream ×[12]) \| [\d,]+ \| 30 \|/gm)).toHaveLength(5);
    expect(md).toMatch(/^\| jetstream ×1 \| 2,000 \| .*\*\*no\*\* \(5 results missing\) \(e2e p99 too long\) \|$/m);
  });

  it('models clients per core of each role from the busiest one-worker point with every result back, labelled a model', () => {
    const md = jetstreamSection([run]).join('\n');
    expect(md).toContain('a model, not a measurement');
    // 1,500 clients: not stable, but every result came back; 2,000 lost results and is not used.
    expect(md).toContain('(1,500 clients, not stable by the rule above, but all its work was done)');
    // 1000 ms / 0.2 ms per file × 10 s = 50,000; worker 0.3 + 0.5 = 0.8 ms → 12,500; nats 0.25 ms → 40,000.
    expect(md).toMatch(/^\| host: .* \| 0\.20 \| 50,000 \|$/m);
    expect(md).toMatch(/^\| worker: .* \| 0\.80 \| 12,500 \|$/m);
    expect(md).toMatch(/^\| nats-server .* \| 0\.25 \| 40,000 \|$/m);
  });

  it('has nothing for runs without JetStream points, and writeReport keeps JetStream points out of the embedded tables', () => {
    const embedded: BenchRun = { ...run, command: 'hrvault bench clients --mode secure', points: [run.points[0]!], searches: [run.searches[0]!] };
    expect(jetstreamSection([embedded])).toEqual([]);
    const out = join(dir, 'benchmarks.md');
    writeReport([embedded, run], out, ['a.json', 'b.json']);
    const md = readFileSync(out, 'utf8');
    const [before, after] = md.split('## JetStream mode');
    expect(before).not.toContain('--jetstream');
    expect(after).toContain('--jetstream');
  });
});
