/**
 * A sweep: the points of `hrvault bench clients` (client counts at one rate) or `hrvault bench load` (rates of a few
 * clients), secure and plain interleaved at each step so that a shared machine's drift falls on both alike; then,
 * with `--search`, the largest stable value of each mode by bisection.
 */
import { machineInfo } from './machine.js';
import type { BenchOptions } from './options.js';
import type { BenchRun } from './output.js';
import { runPoint, variantName, type PointResult, type PointSpec } from './point.js';
import type { TargetFile } from './protocol.js';
import { searchLargestStable } from './search.js';

/** What one series of points measures: a mode, and in JetStream mode the number of workers. */
interface Variant {
  mode: 'secure' | 'plain';
  workers?: number;
}

/** The gateway's default padding buckets (bytes): what a real gateway would send. */
const BUCKETS = [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576];

/** Runs the sweep `o` describes; `onPoint` hears each point as it is measured (the `--json` lines). */
export async function runSweep(o: BenchOptions, command: string, targetFile: TargetFile | undefined, log: (line: string) => void, onPoint: (p: PointResult) => void = () => undefined): Promise<BenchRun> {
  const run: BenchRun = { kind: o.kind, command, started: new Date().toISOString(), machine: machineInfo(), points: [], searches: [] };
  // What is measured at each step: each mode, or with --jetstream each worker count (0: the embedded secure mode).
  const variants: Variant[] = o.modes.flatMap((mode) => (o.jetstream === undefined ? [{ mode }] : (o.workers ?? [1]).map((w) => (w === 0 ? { mode } : { mode, workers: w }))));
  const spec = ({ mode, workers }: Variant, clients: number, rate: number): PointSpec => ({
    mode,
    clients,
    rate,
    batchIntervalMs: Math.round(o.batchIntervalS * 1000),
    durationMs: Math.round(o.durationS * 1000),
    clientsPerGateway: o.clientsPerGateway,
    bucketBytes: BUCKETS,
    ...(o.serverCpus === undefined ? {} : { serverCpus: o.serverCpus }),
    ...(o.clientCpus === undefined ? {} : { clientCpus: o.clientCpus }),
    ...(o.target && targetFile ? { target: { ...o.target, file: targetFile } } : {}),
    ...(o.cpuProf === undefined ? {} : { cpuProfDir: o.cpuProf }),
    ...(o.jetstream === undefined || workers === undefined ? {} : { jetstream: { url: o.jetstream, workers, ...(o.workerCpus === undefined ? {} : { workerCpus: o.workerCpus }) } }),
  });
  const measure = async (s: PointSpec): Promise<PointResult> => {
    const name = variantName({ mode: s.mode, ...(s.jetstream ? { workers: s.jetstream.workers } : {}) });
    log(`${name}: ${s.clients} clients at ${s.rate} beats/s, ${s.batchIntervalMs / 1000}-s batches, ${s.durationMs / 1000} s …`);
    const p = await runPoint(s, log);
    log(`${name}: ${s.clients} clients at ${s.rate} beats/s: mean ${p.batch_ms_mean ?? '–'} ms, p99 ${p.batch_ms_p99 ?? '–'} ms, e2e p99 ${p.e2e_ms_p99 ?? '–'} ms, ${p.results_verified}/${p.files_sent} verified, ${p.stable ? 'stable' : 'UNSTABLE'}`);
    run.points.push(p);
    onPoint(p);
    return p;
  };
  const steps: [number, number][] = o.kind === 'clients' ? o.clients.map((c) => [c, o.rates[0]!]) : o.clients.flatMap((c) => o.rates.map((r): [number, number] => [c, r]));
  for (const [c, r] of steps) for (const v of variants) await measure(spec(v, c, r));
  if (o.search) {
    for (const v of variants) {
      const { mode } = v;
      const label = variantName(v);
      const clients = o.clients[0]!;
      const rate = o.rates[0]!;
      const variable = o.kind === 'clients' ? 'clients' : 'rate';
      const x = (p: PointResult): number => (variable === 'clients' ? p.clients : p.rate);
      const mine = run.points.filter((p) => p.mode === mode && p.workers === v.workers && (variable === 'clients' || p.clients === clients));
      const best = Math.max(0, ...mine.filter((p) => p.stable).map(x));
      // The sweep's first unstable point above the best stable one closes the bracket: no probe measures it again.
      const above = mine.filter((p) => !p.stable && x(p) > best).map(x);
      const worst = above.length > 0 ? Math.min(...above) : undefined;
      log(`${label}: searching the largest stable ${variable === 'clients' ? 'client count' : 'rate'} from ${best || x(mine[0]!)} …`);
      const r = await searchLargestStable(async (x) => (await measure(variable === 'clients' ? spec(v, x, rate) : spec(v, clients, x))).stable, {
        start: best > 0 ? best * 2 : x(mine[0]!),
        ...(best > 0 ? { knownStable: best } : {}),
        ...(best > 0 && worst !== undefined ? { knownUnstable: worst } : {}),
        max: variable === 'clients' ? 200_000 : 1_000_000,
        resolution: 0.1,
        maxProbes: 10,
      });
      const largest = r.largest_stable;
      run.searches.push({ ...r, mode, variable, clients, rate, ...(v.workers === undefined ? {} : { workers: v.workers }) });
      log(`${label}: largest stable ${variable}: ${largest ?? 'none'} (first unstable ${r.first_unstable ?? 'none found'})`);
    }
  }
  return run;
}
