/**
 * `hrvault bench`: the pipeline benchmark of issue 10. `clients` (client scalability at a fixed beat rate), `load`
 * (one or a few clients at rising rates), `serve` (the server half alone, for `--target` runs from another host) and
 * `report` (docs/benchmarks.md from the JSON). `--jetstream URL --workers N,…` measures JetStream mode (issue 11): the
 * host publishing to NATS and N worker processes. The harness itself lives in src/bench/pipeline/.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import {
  assemble,
  readRuns,
  readTargetFile,
  runSweep,
  parseList,
  parseTarget,
  validateBenchOptions,
  writeReport,
  writeRun,
  formatPoints,
  serveForTargets,
  type PointResult,
} from '../bench/index.js';
import { HrvaultError } from '../errors.js';
import { num } from './sensor.js';
import { stopOnSignal } from './lifecycle.js';

interface SweepFlags {
  mode?: string;
  clients?: string;
  rate?: string;
  batchInterval?: number;
  duration?: number;
  search?: boolean;
  json?: boolean;
  quick?: boolean;
  serverCpus?: string;
  clientCpus?: string;
  clientsPerGateway?: number;
  target?: string;
  targetKeys?: string;
  outDir?: string;
  cpuProf?: string;
  jetstream?: string;
  workers?: string;
  workerCpus?: string;
}

function modesOf(mode: string | undefined): ('secure' | 'plain')[] | undefined {
  if (mode === undefined) return undefined;
  if (mode === 'both') return ['secure', 'plain'];
  if (mode === 'secure' || mode === 'plain') return [mode];
  throw new HrvaultError('HRV_ERR_USAGE', `--mode: "${mode}" is not secure, plain or both`);
}

async function sweep(kind: 'clients' | 'load', o: SweepFlags): Promise<void> {
  const opts = validateBenchOptions(
    assemble(kind, {
      quick: o.quick === true,
      modes: modesOf(o.mode),
      clients: o.clients === undefined ? undefined : parseList('--clients', o.clients),
      rates: o.rate === undefined ? undefined : parseList('--rate', o.rate),
      batchIntervalS: o.batchInterval,
      durationS: o.duration,
      search: o.search,
      json: o.json,
      serverCpus: o.serverCpus,
      clientCpus: o.clientCpus,
      clientsPerGateway: o.clientsPerGateway,
      target: o.target === undefined ? undefined : parseTarget(o.target),
      targetKeys: o.targetKeys,
      outDir: o.outDir,
      cpuProf: o.cpuProf === undefined ? undefined : resolve(o.cpuProf),
      jetstream: o.jetstream,
      workers: o.workers === undefined ? undefined : parseList('--workers', o.workers),
      workerCpus: o.workerCpus,
    }),
  );
  const target = opts.targetKeys === undefined ? undefined : readTargetFile(opts.targetKeys);
  const command = `hrvault bench ${process.argv.slice(process.argv.indexOf('bench') + 1).join(' ')}`;
  const run = await runSweep(opts, command, target, (line) => process.stderr.write(`${line}\n`), (p: PointResult) => {
    if (opts.json) process.stdout.write(`${JSON.stringify(p)}\n`);
  });
  if (!opts.json) process.stdout.write(formatPoints(run.points));
  const out = writeRun(resolve(opts.outDir), run);
  process.stderr.write(`wrote ${out.csv} and ${out.json}\n`);
}

function sweepCommand(program: Command, kind: 'clients' | 'load', description: string, rateHelp: string, clientsHelp: string): void {
  program
    .command(kind)
    .description(description)
    .option('--mode <mode>', 'secure | plain | both (default both)')
    .option('--clients <list>', clientsHelp)
    .option('--rate <list>', rateHelp)
    .option('--batch-interval <s>', 'seconds between batch cuts and micro-batches (default 10)', num)
    .option('--duration <s>', 'seconds of load per point (default 300)', num)
    .option('--search', 'then find the largest stable value of each mode by bisection')
    .option('--json', 'one JSON object per measured point on stdout (instead of the table)')
    .option('--quick', 'two small points per mode with 1-s batches: the harness end to end in under a minute')
    .option('--server-cpus <list>', 'taskset CPU list for the server (host + enclave) (default 0)')
    .option('--client-cpus <list>', 'taskset CPU list for the load generator (default 1)')
    .option('--clients-per-gateway <n>', 'clients behind one gateway identity and its SFTP connection (default 250)', num)
    .option('--target <host:port>', 'run the clients against a `hrvault bench serve` on another host')
    .option('--target-keys <file>', 'the file that `hrvault bench serve --write-target` wrote (with --target)')
    .option('--out-dir <dir>', 'where the CSV and JSON go (default bench-results)')
    .option('--cpu-prof <dir>', 'write a V8 CPU profile of host, enclave and generator per point under <dir> and summarise it into the JSON (slows the points: a separate run from the figures)')
    .option('--jetstream <url>', 'JetStream mode (secure only): the host publishes to this NATS server and --workers worker processes analyse')
    .option('--workers <list>', 'with --jetstream: comma-separated worker counts, one point each; 0 = the embedded secure mode for comparison (default 1)')
    .option('--worker-cpus <list>', 'with --jetstream: taskset CPU list for every worker and its enclave (default: --server-cpus)')
    .action((o: SweepFlags) => sweep(kind, o));
}

/** Registers `hrvault bench clients|load|serve|report`. */
export function registerBenchCommand(program: Command): void {
  const bench = program.command('bench').description('benchmark the pipeline end to end: client and load scalability, secure against plain');
  sweepCommand(bench, 'clients', 'client scalability: rising client counts at one beat rate', 'beats per second of each client (default 1)', 'comma-separated client counts (default 100,1000,5000,10000,20000)');
  sweepCommand(bench, 'load', "load scalability: rising beat rates of one or a few clients (beats/s and bytes/s)", 'comma-separated beats per second of each client (default 10,100,1000,10000,100000)', 'comma-separated client counts (default 1,10)');
  bench
    .command('serve')
    .description('run the benchmark server alone (host + enclave) for clients on another host (--target)')
    .option('--mode <mode>', 'secure | plain', 'secure')
    .option('--host <addr>', 'SFTP listen address', '0.0.0.0')
    .option('--port <n>', 'SFTP port', num, 2222)
    .option('--batch-interval <s>', 'seconds between micro-batches', num, 10)
    .option('--gateways <n>', 'gateway identities to enrol (clients ÷ clients-per-gateway, rounded up)', num, 80)
    .requiredOption('--write-target <file>', 'write the gateway keys and pins the clients need here (copy it to the client host)')
    .option('--data-dir <dir>', 'host and enclave state (default: a fresh temp dir)')
    .action(async (o: { mode: string; host: string; port: number; batchInterval: number; gateways: number; writeTarget: string; dataDir?: string }) => {
      const mode = modesOf(o.mode);
      if (mode?.length !== 1) throw new HrvaultError('HRV_ERR_USAGE', '--mode: serve runs one mode, secure or plain');
      const signals = stopOnSignal();
      try {
        await serveForTargets({ mode: mode[0]!, host: o.host, port: o.port, batchIntervalS: o.batchInterval, gateways: o.gateways, targetFile: resolve(o.writeTarget), ...(o.dataDir ? { dataDir: resolve(o.dataDir) } : {}) }, signals.stopped, (line) => process.stderr.write(`${line}\n`), (line) => process.stdout.write(`${line}\n`));
      } finally {
        signals.dispose();
      }
    });
  bench
    .command('report')
    .description('generate docs/benchmarks.md and its SVG plots from bench-results JSON')
    .option('--in <file...>', 'pipeline JSON files (default bench-results/pipeline.json)')
    .option('--out <file>', 'the Markdown file to write', 'docs/benchmarks.md')
    .option('--micro-dir <dir>', 'where the micro suites wrote their JSON (npm run bench -- --suite micro)', 'bench-results')
    .action((o: { in?: string[]; out: string; microDir: string }) => {
      const files = o.in ?? ['bench-results/pipeline.json'];
      for (const f of writeReport(readRuns(files), resolve(o.out), files, o.microDir)) process.stderr.write(`wrote ${f}\n`);
    });
}
