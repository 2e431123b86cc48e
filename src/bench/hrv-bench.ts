/**
 * HRV core benchmark: ECG detection (and labelling) of 30-minute 360 Hz records, the full measure set of
 * 5- and 30-minute windows (Welch and Lomb–Scargle), RR cleaning of a 24 h series, streaming appends, and the
 * analyser's cost per patient file, incremental against from scratch, at 1,000 and 10,000 patients (hrv-per-file.ts).
 * Each case is warmed up, repeated, and reported as median and p90 wall time beside NeuroKit2's figures
 * (../shared/data/README.md and reference_hrv.json `timings`).
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  StreamingHrvWindow,
  analyze,
  cleanRr,
  detectEcgBeats,
  labelBeats,
  nnSeriesFromBeats,
  rrAllSeriesFromBeats,
  windowOf,
  type RrSeries,
} from '../hrv/index.js';
import {
  hasSharedData,
  readBeats,
  readEcg,
  readReferenceHrv,
  readReferenceJson,
  SHARED_DATA_SKIP_REASON,
} from '../test-support/shared-data.js';
import { hrvPerFileRows } from './hrv-per-file.js';

export interface BenchRow {
  name: string;
  /** Median wall time of one call, ms. */
  median_ms: number;
  /** 90th percentile, ms. */
  p90_ms: number;
  /** Fastest run, ms: the figure least disturbed by other work on a shared machine. */
  min_ms: number;
  runs: number;
  /** Target from the issue, ms (undefined where none is set). */
  target_ms?: number;
  /** NeuroKit2's time for the comparable call, ms (single runs on a 2-vCPU VM). */
  neurokit2_ms?: number;
  note?: string;
}

export interface HrvBenchResult {
  rows: BenchRow[];
  node: string;
  date: string;
  /** CPUs of the machine and its 1-minute load average before and after the run: figures taken on a busy shared machine are slower. */
  cpus: number;
  load_before: number;
  load_after: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** Times fn: `warm` untimed calls, then calls until `minRuns` and `minMs` are both reached (at most maxRuns). */
function time(
  fn: () => unknown,
  opts: { warm?: number; minRuns?: number; minMs?: number; maxRuns?: number } = {},
): { median: number; p90: number; min: number; runs: number } {
  const warm = opts.warm ?? 3;
  for (let i = 0; i < warm; i++) fn();
  const xs: number[] = [];
  const start = performance.now();
  while (
    xs.length < (opts.maxRuns ?? 1000) &&
    (xs.length < (opts.minRuns ?? 10) || performance.now() - start < (opts.minMs ?? 300))
  ) {
    const t0 = performance.now();
    fn();
    xs.push(performance.now() - t0);
  }
  xs.sort((a, b) => a - b);
  return { median: quantile(xs, 0.5), p90: quantile(xs, 0.9), min: xs[0] ?? NaN, runs: xs.length };
}

/** NeuroKit2 seconds for a call name in reference_hrv.json `timings`, as ms. */
function nkMs(calls: Array<{ call: string; seconds: number }>, ...names: string[]): number | undefined {
  let sum = 0;
  for (const n of names) {
    const c = calls.find((x) => x.call === n);
    if (!c) return undefined;
    sum += c.seconds * 1000;
  }
  return sum;
}

export interface HrvBenchOptions {
  /**
   * 'all' (default): every case. 'micro': only the per-window cases (the full measure set of 5-minute windows, the
   * streaming window per beat and on demand) and the per-file cases, for `npm run bench -- --suite micro`.
   */
  parts?: 'all' | 'micro';
  /** Patient counts of the per-file cases (default 1,000 and 10,000). */
  perFilePatients?: readonly number[];
}

/** Runs the HRV benchmark; `log` receives progress lines. */
export function runHrvBench(log: (line: string) => void = () => undefined, opts: HrvBenchOptions = {}): HrvBenchResult {
  if (!hasSharedData()) throw new Error(SHARED_DATA_SKIP_REASON);
  const all = opts.parts !== 'micro';
  const loadBefore = loadavg()[0]!;
  const rows: BenchRow[] = [];
  const ref = readReferenceHrv() as { timings: { calls: Array<{ call: string; seconds: number }> } };
  const calls = ref.timings.calls;
  const det = readReferenceJson('detector_reference.json') as {
    results: { neurokit: { records: Record<string, { seconds_clean: number; seconds_peaks: number }> } };
  };

  for (const rec of all ? (['100', '105', '119'] as const) : []) {
    log(`detection ${rec}…`);
    const { mv, fsHz } = readEcg(rec);
    const nk = det.results.neurokit.records[rec];
    const d = time(() => detectEcgBeats(mv, fsHz), { warm: 2, minRuns: 7, minMs: 500, maxRuns: 30 });
    rows.push({
      name: `ECG detection, record ${rec} (30 min, 360 Hz)`,
      median_ms: d.median,
      p90_ms: d.p90,
      min_ms: d.min,
      runs: d.runs,
      target_ms: 50,
      ...(nk ? { neurokit2_ms: (nk.seconds_clean + nk.seconds_peaks) * 1000 } : {}),
      note: 'NeuroKit2: ecg_clean + ecg_peaks',
    });
    const peaks = detectEcgBeats(mv, fsHz);
    const l = time(() => labelBeats(mv, fsHz, peaks), { warm: 1, minRuns: 5, minMs: 300, maxRuns: 20 });
    rows.push({
      name: `beat labels N/V, record ${rec}`,
      median_ms: l.median,
      p90_ms: l.p90,
      min_ms: l.min,
      runs: l.runs,
    });
  }

  const nn: Record<string, RrSeries> = {};
  for (const rec of ['100', '105', '119'] as const) nn[rec] = nnSeriesFromBeats(readBeats(rec));
  for (const psd of ['welch', 'lomb'] as const) {
    for (const rec of ['100', '105', '119'] as const) {
      log(`measures ${rec} ${psd}…`);
      const whole = nn[rec]!;
      const w5 = windowOf(whole, 0, 300);
      const five = time(() => analyze(w5, psd), { minRuns: 20, minMs: 300 });
      rows.push({
        name: `full set, 5 min, ${rec} NN, ${psd}`,
        median_ms: five.median,
        p90_ms: five.p90,
        min_ms: five.min,
        runs: five.runs,
        target_ms: 2,
        neurokit2_ms: nkMs(
          calls,
          `${rec} first_5min NN hrv_time`,
          `${rec} first_5min NN hrv_frequency(${psd === 'welch' ? 'ms2' : 'lomb'})`,
          `${rec} first_5min NN hrv_nonlinear`,
        ),
      });
      if (!all) continue;
      const thirty = time(() => analyze(whole, psd), { minRuns: 10, minMs: 500 });
      rows.push({
        name: `full set, 30 min, ${rec} NN, ${psd}`,
        median_ms: thirty.median,
        p90_ms: thirty.p90,
        min_ms: thirty.min,
        runs: thirty.runs,
        target_ms: 50,
        neurokit2_ms: nkMs(
          calls,
          `${rec} whole NN hrv_time`,
          `${rec} whole NN hrv_frequency(${psd === 'welch' ? 'ms2' : 'lomb'})`,
          `${rec} whole NN hrv_nonlinear`,
        ),
      });
    }
  }

  const nsr = readBeats('nsr001');
  const nsrAll = rrAllSeriesFromBeats(nsr, { originS: nsr[0]!.tS });
  if (all) {
    log('cleaning 24 h (nsr001)…');
    const c = time(() => cleanRr(nsrAll, { method: 'auto' }), { warm: 1, minRuns: 5, minMs: 500, maxRuns: 30 });
    rows.push({
      name: `RR cleaning, 24 h nsr001 (${nsrAll.rrMs.length} intervals)`,
      median_ms: c.median,
      p90_ms: c.p90,
      min_ms: c.min,
      runs: c.runs,
    });
  }

  log('streaming appends…');
  const cleaned = cleanRr(nsrAll).series;
  const n = cleaned.rrMs.length;
  const s = time(
    () => {
      const w = new StreamingHrvWindow();
      for (let i = 0; i < n; i++) {
        w.append(cleaned.tMs[i]!, cleaned.rrMs[i]!);
        w.evictBefore(cleaned.tMs[i]! - 300_000);
        w.timeDomain({ geometric: false });
      }
    },
    { warm: 1, minRuns: 3, minMs: 500, maxRuns: 10 },
  );
  rows.push({
    name: `streaming: append + evict + time domain, per beat (5-min window)`,
    median_ms: s.median / n,
    p90_ms: s.p90 / n,
    min_ms: s.min / n,
    runs: s.runs,
    note: `${n} beats per run`,
  });
  const w5 = new StreamingHrvWindow();
  for (let i = 0; i < n && cleaned.tMs[i]! < 300_000; i++) w5.append(cleaned.tMs[i]!, cleaned.rrMs[i]!);
  const m = time(() => w5.measures('welch'), { minRuns: 20, minMs: 300 });
  rows.push({
    name: 'streaming: full set on demand (5-min window)',
    median_ms: m.median,
    p90_ms: m.p90,
    min_ms: m.min,
    runs: m.runs,
    target_ms: 2,
  });

  rows.push(...hrvPerFileRows(opts.perFilePatients ?? [1_000, 10_000], log));

  return {
    rows,
    node: process.version,
    date: new Date().toISOString(),
    cpus: cpus().length,
    load_before: loadBefore,
    load_after: loadavg()[0]!,
  };
}

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  if (v >= 100) return v.toFixed(0);
  if (v >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

/** The result as an aligned text table. */
export function formatHrvBench(r: HrvBenchResult): string {
  const head = ['case', 'median ms', 'p90 ms', 'min ms', 'runs', 'target ms', 'NeuroKit2 ms', 'ok'];
  const body = r.rows.map((x) => [
    x.name,
    fmt(x.median_ms),
    fmt(x.p90_ms),
    fmt(x.min_ms),
    String(x.runs),
    fmt(x.target_ms),
    fmt(x.neurokit2_ms),
    x.target_ms === undefined ? '' : x.median_ms < x.target_ms ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return (
    [line(head), ...body.map(line)].join('\n') +
    `\n${r.cpus} CPUs, 1-minute load average ${r.load_before.toFixed(1)} before and ${r.load_after.toFixed(1)} after the run\n`
  );
}
