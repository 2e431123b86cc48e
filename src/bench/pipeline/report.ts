/**
 * Generates `docs/benchmarks.md` and its SVG plots (`docs/img/`) from the JSON a pipeline run wrote: the machine,
 * the exact commands, a table per sweep, the largest stable configuration of each mode beside the original study's,
 * then the micro-benchmarks from the micro suites' JSON (rendered by report-micro.ts).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { profileSection, splitProfiled } from './report-profile.js';
import { HrvaultError } from '../../errors.js';
import type { BenchRun, PipelineBench } from './output.js';
import type { PointResult } from './point.js';
import { microSection, readMicroResults } from './report-micro.js';
import { isJetstreamRun, jetstreamSection } from './report-jetstream.js';
import { renderPlot, type Series } from './svg.js';

/** The original study (Spark Streaming in SGX against plain Spark, 8-thread Xeon E3-1270 v6): largest stable loads. */
export const ORIGINAL = {
  machine: 'Intel Xeon E3-1270 v6 (4 cores, 8 threads)',
  clients: { secure: 110, plain: 225 },
  load_kB_s: { secure: 16, plain: 32 },
} as const;

const COLORS = { secure: '#d62728', plain: '#1f77b4' } as const;

/** Reads bench-results JSON: the suite's `{runs}` or one command's run; throws HRV_ERR_USAGE naming the file. */
export function readRuns(files: readonly string[]): BenchRun[] {
  return files.flatMap((f) => {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(f, 'utf8'));
    } catch (err) {
      throw new HrvaultError('HRV_ERR_USAGE', `bench report: ${f}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const d = doc as Partial<PipelineBench & BenchRun>;
    if (Array.isArray(d.runs)) return d.runs;
    if (Array.isArray(d.points) && (d.kind === 'clients' || d.kind === 'load')) return [d as BenchRun];
    throw new HrvaultError('HRV_ERR_USAGE', `bench report: ${f} is not a pipeline benchmark result (no "runs" or "points")`);
  });
}

const n = (v: number | null | undefined, d = 0): string => (v === null || v === undefined ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));

/** The largest stable value of `mode` in a run: its search's answer, or else the largest stable point measured (a lower bound). */
export function largestStable(run: BenchRun, mode: 'secure' | 'plain'): { value: number | null; searched: boolean } {
  const s = run.searches.find((x) => x.mode === mode);
  if (s) return { value: s.largest_stable, searched: true };
  const x = (p: PointResult): number => (run.kind === 'clients' ? p.clients : p.rate);
  // A load sweep's figure is for its first client count (the one a search would use).
  const first = run.points[0]?.clients;
  const stable = run.points.filter((p) => p.mode === mode && p.stable && (run.kind === 'clients' || p.clients === first)).map(x);
  return { value: stable.length ? Math.max(...stable) : null, searched: false };
}

function table(points: readonly PointResult[]): string {
  const head = '| mode | clients | beats/s per client | batch mean / p50 / p99 / max (ms) | host steps per batch: list+read / analyse or enclave / write results / file inputs (mean ms) | e2e p50 / p99 (ms) | beats/s analysed | kB/s data / files | backlog after each batch | CPU % host / enclave / generator | RSS MB host / enclave | stable |';
  const rows = [...points]
    .sort((a, b) => a.clients - b.clients || a.rate - b.rate || a.mode.localeCompare(b.mode))
    .map((p) =>
      [
        p.mode,
        n(p.clients),
        n(p.rate, p.rate % 1 ? 1 : 0),
        `${n(p.batch_ms_mean)} / ${n(p.batch_ms_p50)} / ${n(p.batch_ms_p99)} / ${n(p.batch_ms_max)}`,
        p.batch_phases_ms_mean ? `${n(p.batch_phases_ms_mean.list + p.batch_phases_ms_mean.read)} / ${n(p.batch_phases_ms_mean.analyse)} / ${n(p.batch_phases_ms_mean.write)} / ${n(p.batch_phases_ms_mean.file)}` : '–',
        `${n(p.e2e_ms_p50)} / ${n(p.e2e_ms_p99)}`,
        n(p.beats_per_s),
        `${n(p.data_bytes_per_s === null ? null : p.data_bytes_per_s / 1000, 1)} / ${n(p.bytes_per_s === null ? null : p.bytes_per_s / 1000, 1)}`,
        p.backlog_end.length > 12 ? `${p.backlog_end.slice(0, 6).join(' ')} … ${p.backlog_end.slice(-3).join(' ')}` : p.backlog_end.join(' '),
        `${n(p.host_cpu_pct)} / ${n(p.enclave_cpu_pct)} / ${n(p.generator_cpu_pct)}`,
        `${n(p.host_rss_max_mb)} / ${n(p.enclave_rss_max_mb)}`,
        p.stable ? 'yes' : `**no**${p.uploads_kept_up === false ? ' (uploads fell behind)' : ''}${p.results_missing > 0 ? ` (${n(p.results_missing)} results missing)` : ''}${p.results_rejected > 0 ? ` (${n(p.results_rejected)} results refused: ${p.first_error ?? '?'})` : ''}`,
      ].join(' | '),
    );
  return [head, '|' + ' --- |'.repeat(12), ...rows.map((r) => `| ${r} |`)].join('\n');
}

function plot(run: BenchRun): string {
  const interval = run.points[0]?.batch_interval_s ?? 10;
  const clients = run.kind === 'clients';
  const counts = clients ? [0] : [...new Set(run.points.map((p) => p.clients))].sort((a, b) => a - b);
  const series: Series[] = [];
  for (const mode of ['secure', 'plain'] as const) {
    counts.forEach((c, i) => {
      const pts = run.points.filter((p) => p.mode === mode && p.batch_ms_mean !== null && (clients || p.clients === c));
      series.push({
        name: clients ? mode : `${mode}, ${c} client${c === 1 ? '' : 's'}`,
        color: COLORS[mode],
        dashed: i > 0,
        points: pts.map((p) => ({ x: clients ? p.clients : (p.data_bytes_per_s ?? 0) / (1000 * p.clients), y: p.batch_ms_mean! })),
      });
    });
  }
  const rate = run.points[0]?.rate ?? 1;
  return renderPlot({
    title: clients ? `Micro-batch processing time against clients (${rate} beat/s each, ${interval}-s batches)` : `Micro-batch processing time against one client's data rate (${interval}-s batches)`,
    xLabel: clients ? 'clients (log scale)' : "one client's RR data rate, kB/s (log scale)",
    yLabel: 'mean processing time per micro-batch (ms)',
    logX: true,
    series,
    hLines: [{ y: interval * 1000, label: `${interval}-s batch interval: unstable above` }],
    vLines: clients
      ? [
          { x: ORIGINAL.clients.secure, label: `original secure: ${ORIGINAL.clients.secure}`, color: COLORS.secure },
          { x: ORIGINAL.clients.plain, label: `original plain: ${ORIGINAL.clients.plain}`, color: COLORS.plain },
        ]
      : [
          { x: ORIGINAL.load_kB_s.secure, label: `original secure: ${ORIGINAL.load_kB_s.secure} kB/s`, color: COLORS.secure },
          { x: ORIGINAL.load_kB_s.plain, label: `original plain: ${ORIGINAL.load_kB_s.plain} kB/s`, color: COLORS.plain },
        ],
  });
}

/** What a reader must know to trust (or not) a run's figures, found in the points themselves. */
function caveats(runs: readonly BenchRun[]): string[] {
  const out: string[] = [];
  for (const run of runs) {
    for (const p of run.points) {
      const what = `${run.kind} sweep, ${p.mode}, ${n(p.clients)} client${p.clients === 1 ? '' : 's'} at ${n(p.rate)} beats/s`;
      if (p.uploads_kept_up === false) {
        const server = (p.host_cpu_pct ?? 0) + (p.enclave_cpu_pct ?? 0);
        const gen = p.generator_cpu_pct ?? 0;
        // CPU shares are over the whole point (start-up and drain included), so a core saturated while the load ran
        // shows well below 100%: the busier side is the likely limit.
        const why =
          gen >= 80 ? 'the generator itself may be the limit'
          : server >= 80 ? 'the generator waited on the server (its SFTP ingress shares the server core with the micro-batches)'
          : server >= 60 && server > gen ? 'the server core, the busier of the two (its SFTP ingress shares it with the micro-batches), is the likely limit'
          : 'neither side used its whole core, so other work on the machine may have had the CPU';
        out.push(`- ${what}: the uploads fell behind their cuts (up to ${n((p.upload_lag_ms_max ?? 0) / 1000, 1)} s), so the server saw less than the offered load; generator ${n(gen)}% of its core, server (host + enclave) ${n(server)}% of its core, averaged over the point with its start-up and drain: ${why}.`);
      }
      if (p.results_rejected > 0) out.push(`- ${what}: the gateway refused ${n(p.results_rejected)} results: ${p.first_error ?? 'no reason recorded'}.`);
      if (p.results_missing > 0) out.push(`- ${what}: ${n(p.results_missing)} results did not come back within the drain (three batch intervals after the last upload).`);
    }
  }
  return out.length === 0 ? [] : ['## Caveats found in this run', '', ...out, ''];
}

/**
 * Writes the report to `outFile` and its plots beside it under img/; returns the files written. `microDir`: where the
 * micro suites' JSON is looked for (report-micro.ts); without it the report has no micro-benchmark section. Runs
 * taken with `--cpu-prof` only feed the "Where the time goes" section.
 */
export function writeReport(allRuns: readonly BenchRun[], outFile: string, sources: readonly string[], microDir?: string): string[] {
  const { figures: all, profiled } = splitProfiled(allRuns);
  // JetStream runs have a section of their own (with the embedded secure points they measured beside them).
  const runs = all.filter((r) => !isJetstreamRun(r));
  if (runs.length === 0 && all.length > 0) {
    writeFileSync(outFile, ['# Benchmarks: JetStream mode', '', ...jetstreamSection(all)].join('\n'));
    return [outFile];
  }
  if (runs.length === 0) throw new HrvaultError('HRV_ERR_USAGE', 'bench report: no runs in the input (other than --cpu-prof runs, which only explain where the time goes)');
  const imgDir = join(dirname(outFile), 'img');
  mkdirSync(imgDir, { recursive: true });
  const written: string[] = [];
  const m = runs[0]!.machine;
  const lines: string[] = [
    '# Benchmarks: the pipeline under load, secure against plain',
    '',
    `<!-- Generated by \`hrvault bench report\` from ${sources.map((s) => `\`${s}\``).join(', ')}; edit the generator (src/bench/pipeline/report.ts), not this file. -->`,
    '',
    'The study this project re-implements judged its system by one experiment: how many clients (and how much data from one client) the HRV stream job takes before it becomes **unstable**, i.e. the mean micro-batch processing time exceeds the batch interval. This page runs that experiment on our pipeline, end to end and never around it: SFTP ingress, the host\'s micro-batch scheduler, the enclave process (secure) or in-host analysis (plain), results back to the gateway, opened and verified there.',
    '',
    '## How it is measured',
    '',
    '- **A client** is one patient stream behind a gateway: every batch interval it ships one batch file with its RR intervals (at `rate` beats/s; above 1 beat/s the recording runs faster, as `hrvault demo --speed` does). Files are sealed with the gateway\'s own code (`encodeBatchFile` in src/gateway/batch-file.ts, padded to the gateway\'s buckets), uploaded over SFTP under a temporary name and renamed, as the gateway does; up to `--clients-per-gateway` (default 250) clients share one gateway identity and its one SFTP connection (8 uploads in flight on it). In secure mode each gateway identity attests the enclave first (nonce, quote, pinned platform key and measurement).',
    '- **The server** is a child process running the real cloud host (`startCloud`) and, in secure mode, its enclave child process, pinned with `taskset` to the server cores (default core 0; the enclave inherits the pinning). **The load generator** is another child process pinned to the other core (default core 1), so the server\'s figures are for the cores it was given. Each point starts a fresh server (fresh enclave state).',
    '- **Per point**: micro-batch processing time (the host\'s own record of each micro-batch: read, analyse or hand to the enclave, write results, file inputs away; the first micro-batch is left out as warm-up when there are three or more), **end-to-end latency** from each batch\'s cut (its newest beat) to its result verified at the gateway (the oldest beat in a file waited one more interval), beats/s in verified results, upload volume, the files still waiting in the inboxes right after each micro-batch (sampled within 200 ms), and CPU time (share of one core over the run) and peak RSS of host, enclave and generator, read from /proc.',
    '- **Stable**: mean processing time below the batch interval, no growing backlog (the files left after each micro-batch rising by more than 5% of an interval\'s files per batch), every result back and verified, and every interval\'s uploads done within the interval (otherwise the server saw less than the offered load: its SFTP ingress, or the generator, did not keep up; the generator\'s CPU share tells which). Beats/s and kB/s are per second of load actually delivered.',
    m.load_avg_1m < 1.5
      ? `- The machine ran nothing else on purpose (1-min load average ${m.load_avg_1m} when the run started), but it is a virtual machine on shared hardware: the figures are indicative, and secure and plain points are interleaved so drift hits both alike. Each point is one run of the duration shown (the original ran 5 × 5 minutes per point).`
      : `- The numbers were taken on a **shared machine** (other work running; 1-min load average ${m.load_avg_1m} when the run started): they are indicative, and secure and plain points are interleaved so drift hits both alike.`,
    '',
    '## Machine',
    '',
    '| | |',
    '| --- | --- |',
    `| CPU | ${m.cpu_model}, ${m.cpus} logical CPUs${m.threads_per_core ? ` (${m.threads_per_core} thread(s) per core)` : ''}${m.hypervisor ? `, virtualised (${m.hypervisor})` : ''} |`,
    `| memory | ${m.memory_gb} GB |`,
    `| OS, Node | ${m.os}, ${m.node} |`,
    `| pinning | ${runs.every((r) => r.points.every((p) => p.pinned)) ? 'server and generator pinned to separate cores (taskset)' : 'not pinned everywhere (taskset missing or --server-cpus not given)'} |`,
    '',
    '## Commands',
    '',
    '```sh',
    ...runs.map((r) => r.command),
    '```',
    '',
    '## Largest stable load, beside the original',
    '',
    '| | secure | plain | secure / plain |',
    '| --- | --- | --- | --- |',
    `| original, clients at 1 beat/s (${ORIGINAL.machine}) | ${ORIGINAL.clients.secure} | ${ORIGINAL.clients.plain} | ${(ORIGINAL.clients.secure / ORIGINAL.clients.plain).toFixed(2)} |`,
  ];
  for (const run of runs.filter((r) => r.kind === 'clients')) {
    const s = largestStable(run, 'secure');
    const p = largestStable(run, 'plain');
    const how = s.searched && p.searched ? 'bisection search' : 'largest stable point of the sweep, a lower bound (no --search)';
    lines.push(`| this pipeline, clients at ${run.points[0]?.rate ?? 1} beat/s (${how}) | ${n(s.value)} | ${n(p.value)} | ${s.value && p.value ? (s.value / p.value).toFixed(2) : '–'} |`);
  }
  lines.push(`| original, one client's load (kB/s) | ${ORIGINAL.load_kB_s.secure} | ${ORIGINAL.load_kB_s.plain} | ${(ORIGINAL.load_kB_s.secure / ORIGINAL.load_kB_s.plain).toFixed(2)} |`);
  for (const run of runs.filter((r) => r.kind === 'load')) {
    const largest = { secure: largestStable(run, 'secure'), plain: largestStable(run, 'plain') };
    const kB = (mode: 'secure' | 'plain'): number | null => {
      const pt = run.points.find((q) => q.mode === mode && q.rate === largest[mode].value);
      return pt?.data_bytes_per_s == null ? null : pt.data_bytes_per_s / 1000 / pt.clients;
    };
    const s = kB('secure');
    const p = kB('plain');
    // Every point stable up to the top rate: the sweep (bounded by the result contract's beats per result) ran out
    // before either mode did, and the figures are lower bounds, not limits.
    const top = Math.max(...run.points.map((q) => q.rate));
    const capped = Object.values(largest).every((l) => l.value === top && !l.searched);
    const note = capped ? ', every point stable up to the sweep\'s top rate: lower bounds (a result carries its batch\'s beats, at most 100,000 by the result contract, so one client stays below 10,000 beats/s at 10-s batches)' : '';
    lines.push(`| this pipeline, one client's load (kB/s of RR data; beats/s in the table below${note}) | ${n(s, 1)} | ${n(p, 1)} | ${s && p ? (s / p).toFixed(2) : '–'} |`);
  }
  lines.push('');
  for (const run of runs) {
    const img = join(imgDir, `pipeline-${run.kind}.svg`);
    writeFileSync(img, plot(run));
    written.push(img);
    lines.push(`## ${run.kind === 'clients' ? 'Client scalability' : 'Load scalability'}`, '', '```sh', run.command, '```', '');
    lines.push(`![${run.kind === 'clients' ? 'processing time against clients' : 'processing time against load'}](${relative(dirname(outFile), img)})`, '');
    lines.push(table(run.points), '');
    for (const s of run.searches) lines.push(`- ${s.mode}: largest stable ${s.variable} **${n(s.largest_stable)}**, first unstable ${n(s.first_unstable)} (probes: ${s.probes.map((p) => `${p.x} ${p.stable ? '✓' : '✗'}`).join(', ')})`);
    if (run.searches.length) lines.push('');
  }
  lines.push(...caveats(runs));
  lines.push(...jetstreamSection(all));
  lines.push(...profileSection(profiled));
  if (microDir !== undefined) lines.push(...microSection(readMicroResults(microDir), microDir));
  writeFileSync(outFile, lines.join('\n'));
  written.push(outFile);
  return written;
}
