/**
 * The report's JetStream section (issue 11): the points of `hrvault bench clients --jetstream URL --workers …` (the
 * embedded secure points of the same run beside them), each variant's largest stable client count, and the CPU time
 * per file by process that the model for more hosts is built from. The model itself is prose in docs/benchmarks.md.
 */
import type { BenchRun } from './output.js';
import { JETSTREAM_E2E_INTERVALS, variantName, type PointResult } from './point.js';

const n = (v: number | null | undefined, d = 0): string => (v === null || v === undefined ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));

/** Whether a run measured JetStream mode (then its points belong to this section, not to the embedded figures). */
export const isJetstreamRun = (run: BenchRun): boolean => run.points.some((p) => p.workers !== undefined);

function row(p: PointResult): string {
  const c = p.cpu_ms_per_file ?? {};
  const js = p.workers !== undefined;
  const cpu = js
    ? `${n(p.host_cpu_pct)} / ${n(p.worker_cpu_pct)} + ${n(p.worker_enclave_cpu_pct)} / ${n(p.nats_cpu_pct)} / ${n(p.generator_cpu_pct)}`
    : `${n(p.host_cpu_pct)} / ${n(p.enclave_cpu_pct)} (enclave) / – / ${n(p.generator_cpu_pct)}`;
  const perFile = js
    ? `${n(c.host, 2)} / ${n((c.workers ?? 0) + (c.worker_enclaves ?? 0), 2)} / ${n(c.nats, 2)}`
    : `${n(c.host, 2)} / ${n(c.enclave, 2)} / –`;
  const backlog = p.backlog_end.length > 8 ? `${p.backlog_end.slice(0, 4).join(' ')} … ${p.backlog_end.slice(-2).join(' ')}` : p.backlog_end.join(' ');
  const why = p.stable
    ? 'yes'
    : `**no**${p.uploads_kept_up ? '' : ' (uploads fell behind)'}${p.backlog_growing ? ' (backlog grew)' : ''}${p.results_missing > 0 ? ` (${n(p.results_missing)} results missing)` : ''}${js && (p.e2e_ms_p99 ?? Infinity) > JETSTREAM_E2E_INTERVALS * p.batch_interval_s * 1000 ? ' (e2e p99 too long)' : ''}`;
  return `| ${variantName(p)} | ${n(p.clients)} | ${n(p.duration_s)} | ${n(p.batch_ms_mean)} | ${n(p.e2e_ms_p50)} / ${n(p.e2e_ms_p99)} | ${backlog} | ${n(p.beats_per_s)} | ${cpu} | ${perFile} | ${p.worker_files?.join(' / ') ?? '–'} | ${why} |`;
}

/**
 * The point with the most clients of a variant whose every result came back verified (stable or not: the work was all
 * done, and the busiest point carries the least idle time per file), if any.
 */
function busiestComplete(points: readonly PointResult[], workers: number | undefined): PointResult | undefined {
  return points.filter((p) => p.results_missing === 0 && p.results_rejected === 0 && p.workers === workers).sort((a, b) => b.clients - a.clients)[0];
}

/**
 * The model for more hosts, from per-file CPU costs: how many clients one core of each role would carry if that role
 * alone were the limit, at the run's batch interval (one file per client per interval). A model, not a measurement.
 */
function model(run: BenchRun): string[] {
  const p = busiestComplete(run.points, 1) ?? busiestComplete(run.points, Math.max(...run.points.map((q) => q.workers ?? 0)));
  const c = p?.cpu_ms_per_file;
  if (!p || !c) return [];
  const interval = p.batch_interval_s;
  const perCore = (ms: number | null | undefined): string => (ms === null || ms === undefined || ms <= 0 ? '–' : n(Math.round((1000 / ms) * interval / 10) * 10));
  const worker = c.workers === null || c.workers === undefined ? null : c.workers + (c.worker_enclaves ?? 0);
  const bytesPerFile = p.bytes_per_s === null || p.clients === 0 ? null : (p.bytes_per_s * interval) / p.clients;
  return [
    `**Model for more hosts (a model, not a measurement)**, from the CPU time per file of the busiest ${variantName(p)} point with every result back (${n(p.clients)} clients, ${p.stable ? 'stable' : 'not stable by the rule above, but all its work was done'}): clients one core of each role carries at ${interval}-s batches if it alone were the limit (1000 ms ÷ CPU ms per file × ${interval} s).`,
    '',
    '| role | CPU ms per file | clients per core (model) |',
    '| --- | --- | --- |',
    `| host: SFTP ingress, publish to the work stream, results to the outboxes | ${n(c.host, 2)} | ${perCore(c.host)} |`,
    `| worker: fetch, its enclave's analysis, checkpoint, results stream | ${n(worker, 2)} | ${perCore(worker)} |`,
    `| nats-server (R1, file storage; work and results messages, acks, leases) | ${n(c.nats, 2)} | ${perCore(c.nats)} |`,
    `| (load generator: the gateways' side, not the deployment's) | ${n(c.generator, 2)} | ${perCore(c.generator)} |`,
    '',
    ...(bytesPerFile === null ? [] : [`Sealed file size: ${n(bytesPerFile)} bytes on average (stored once per replica in the work stream until a worker acknowledges it).`, '']),
  ];
}

/** Markdown lines for the JetStream runs among `runs` (none when there is none). */
export function jetstreamSection(runs: readonly BenchRun[]): string[] {
  const js = runs.filter(isJetstreamRun);
  if (js.length === 0) return [];
  const lines = ['## JetStream mode: clients with 1 and 2 workers', ''];
  for (const run of js) {
    lines.push('```sh', run.command, '```', '', `Started ${run.started}, 1-min load average ${run.machine.load_avg_1m} then.`, '');
    if (run.searches.length > 0) {
      lines.push('| largest stable clients | value | first unstable | probes |', '| --- | --- | --- | --- |');
      for (const s of run.searches) lines.push(`| ${variantName(s)} | **${n(s.largest_stable)}** | ${n(s.first_unstable)} | ${s.probes.map((p) => `${p.x} ${p.stable ? '✓' : '✗'}`).join(', ')} |`);
      lines.push('');
    }
    lines.push(
      '| deployment | clients | s | host tick mean (ms) | e2e p50 / p99 (ms) | backlog after each tick | beats/s | CPU % host / workers + their enclaves / nats-server / generator | CPU ms per file: host / workers with enclaves / nats-server | files per worker | stable |',
      '|' + ' --- |'.repeat(11),
      ...[...run.points].sort((a, b) => variantName(a).localeCompare(variantName(b)) || a.clients - b.clients).map(row),
      '',
      ...model(run),
    );
  }
  return lines;
}
