/**
 * A sweep: the points of `hrvault bench clients` (client counts at one rate) or `hrvault bench load` (rates of a few
 * clients), secure and plain interleaved at each step so that a shared machine's drift falls on both alike; then,
 * with `--search`, the largest stable value of each mode by bisection.
 */
import { machineInfo } from './machine.js';
import type { BenchOptions } from './options.js';
import type { BenchRun } from './output.js';
import { runPoint, type PointResult, type PointSpec } from './point.js';
import type { TargetFile } from './protocol.js';
import { searchLargestStable } from './search.js';

/** The gateway's default padding buckets (bytes): what a real gateway would send. */
const BUCKETS = [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576];

/** Runs the sweep `o` describes; `onPoint` hears each point as it is measured (the `--json` lines). */
export async function runSweep(o: BenchOptions, command: string, targetFile: TargetFile | undefined, log: (line: string) => void, onPoint: (p: PointResult) => void = () => undefined): Promise<BenchRun> {
  const run: BenchRun = { kind: o.kind, command, started: new Date().toISOString(), machine: machineInfo(), points: [], searches: [] };
  const spec = (mode: 'secure' | 'plain', clients: number, rate: number): PointSpec => ({
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
  });
  const measure = async (s: PointSpec): Promise<PointResult> => {
    log(`${s.mode}: ${s.clients} clients at ${s.rate} beats/s, ${s.batchIntervalMs / 1000}-s batches, ${s.durationMs / 1000} s …`);
    const p = await runPoint(s, log);
    log(`${s.mode}: ${s.clients} clients at ${s.rate} beats/s: mean ${p.batch_ms_mean ?? '–'} ms, p99 ${p.batch_ms_p99 ?? '–'} ms, e2e p99 ${p.e2e_ms_p99 ?? '–'} ms, ${p.results_verified}/${p.files_sent} verified, ${p.stable ? 'stable' : 'UNSTABLE'}`);
    run.points.push(p);
    onPoint(p);
    return p;
  };
  const steps: [number, number][] = o.kind === 'clients' ? o.clients.map((c) => [c, o.rates[0]!]) : o.clients.flatMap((c) => o.rates.map((r): [number, number] => [c, r]));
  for (const [c, r] of steps) for (const mode of o.modes) await measure(spec(mode, c, r));
  if (o.search) {
    for (const mode of o.modes) {
      const clients = o.clients[0]!;
      const rate = o.rates[0]!;
      const variable = o.kind === 'clients' ? 'clients' : 'rate';
      const x = (p: PointResult): number => (variable === 'clients' ? p.clients : p.rate);
      const mine = run.points.filter((p) => p.mode === mode && (variable === 'clients' || p.clients === clients));
      const best = Math.max(0, ...mine.filter((p) => p.stable).map(x));
      // The sweep's first unstable point above the best stable one closes the bracket: no probe measures it again.
      const above = mine.filter((p) => !p.stable && x(p) > best).map(x);
      const worst = above.length > 0 ? Math.min(...above) : undefined;
      log(`${mode}: searching the largest stable ${variable === 'clients' ? 'client count' : 'rate'} from ${best || x(mine[0]!)} …`);
      const r = await searchLargestStable(async (v) => (await measure(variable === 'clients' ? spec(mode, v, rate) : spec(mode, clients, v))).stable, {
        start: best > 0 ? best * 2 : x(mine[0]!),
        ...(best > 0 ? { knownStable: best } : {}),
        ...(best > 0 && worst !== undefined ? { knownUnstable: worst } : {}),
        max: variable === 'clients' ? 200_000 : 1_000_000,
        resolution: 0.1,
        maxProbes: 10,
      });
      const largest = r.largest_stable;
      run.searches.push({ ...r, mode, variable, clients, rate });
      log(`${mode}: largest stable ${variable}: ${largest ?? 'none'} (first unstable ${r.first_unstable ?? 'none found'})`);
    }
  }
  return run;
}
