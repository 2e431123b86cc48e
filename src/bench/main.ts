/**
 * `npm run bench`: runs one benchmark suite (`--suite hrv`, the default, `--suite access`, `--suite gateway`, `--suite crypto`,
 * `--suite enclave`, `--suite paillier`, `--suite micro` or `--suite pipeline`), prints its table and writes
 * bench-results/<suite>.json (`micro` runs crypto, the per-window and per-file parts of hrv, enclave and paillier, and writes
 * each one's JSON). Suites live in their own modules; this file only dispatches. `--suite pipeline` runs the client sweep and the load sweep of `hrvault bench` (with `--search`, `--duration S` and
 * `--quick` passed on); `hrvault bench report` then writes docs/benchmarks.md from bench-results/pipeline.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface PipelineFlags {
  quick: boolean;
  search: boolean;
  duration?: number;
}

interface SuiteOptions {
  spDb?: string;
  pipeline: PipelineFlags;
  /** Enclave suite: a batch size above 1,000 files whose estimated run exceeds this many seconds is skipped (default 60). */
  enclaveBudgetS?: number;
}

interface Suite {
  /** `outputs`: the JSON of each suite run, by the name of its bench-results file (without `.json`). */
  run(log: (line: string) => void, opts: SuiteOptions): Promise<{ outputs: Record<string, unknown>; table: string }>;
}

const microParts: Record<'crypto' | 'hrv' | 'enclave' | 'paillier', (log: (line: string) => void, opts: SuiteOptions) => Promise<{ json: unknown; table: string }>> = {
  async crypto(log) {
    const { runCryptoBench, formatCryptoBench } = await import('./crypto-bench.js');
    const r = runCryptoBench(log);
    return { json: r, table: formatCryptoBench(r) };
  },
  // The per-window and per-file cases only: the whole hrv suite took over 3 minutes on the 2-core machine (ECG detection of
  // 30-min records, 30-min windows and 24-h cleaning add ~20 s to the per-file cases at 10,000 patients, which dominate).
  async hrv(log) {
    const { runHrvBench, formatHrvBench } = await import('./hrv-bench.js');
    const r = runHrvBench(log, { parts: 'micro' });
    return { json: r, table: formatHrvBench(r) };
  },
  async enclave(log, opts) {
    const { runEnclaveBench, formatEnclaveBench } = await import('./enclave-bench.js');
    const r = await runEnclaveBench({ log, ...(opts.enclaveBudgetS === undefined ? {} : { budgetS: opts.enclaveBudgetS }) });
    return { json: r, table: formatEnclaveBench(r) };
  },
  // Paillier without the access suite's services (its SP and CSP on embedded databases, Argon2id registrations).
  async paillier(log) {
    const { runPaillierBench, formatAccessTable } = await import('./access-bench.js');
    const r = await runPaillierBench({ log });
    return { json: r, table: formatAccessTable({ ...r }) };
  },
};

/** A suite that is one micro part alone, its JSON under the part's own name. */
function microSuite(name: keyof typeof microParts): Suite {
  return {
    async run(log, opts) {
      const { json, table } = await microParts[name](log, opts);
      return { outputs: { [name]: json }, table };
    },
  };
}

const SUITES: Record<string, Suite> = {
  hrv: {
    async run(log) {
      const { runHrvBench, formatHrvBench } = await import('./hrv-bench.js');
      const r = runHrvBench(log);
      return { outputs: { hrv: r }, table: formatHrvBench(r) };
    },
  },
  gateway: {
    async run(log) {
      const { runGatewayBench, formatGatewayBench } = await import('./gateway-bench.js');
      const r = await runGatewayBench({ log });
      return { outputs: { gateway: r }, table: formatGatewayBench(r) };
    },
  },
  crypto: microSuite('crypto'),
  enclave: microSuite('enclave'),
  paillier: microSuite('paillier'),
  micro: {
    async run(log, opts) {
      const outputs: Record<string, unknown> = {};
      const tables: string[] = [];
      const { hasSharedData, SHARED_DATA_SKIP_REASON } = await import('../test-support/shared-data.js');
      for (const [name, part] of Object.entries(microParts)) {
        if (name === 'hrv' && !hasSharedData()) {
          log(`micro: hrv left out (${SHARED_DATA_SKIP_REASON})`);
          continue;
        }
        log(`micro: ${name}…`);
        const { json, table } = await part(log, opts);
        outputs[name] = json;
        tables.push(`${name}:\n${table}`);
      }
      return { outputs, table: tables.join('\n\n') };
    },
  },
  pipeline: {
    async run(log, opts) {
      const { assemble, runSweep, validateBenchOptions, formatPoints } = await import('./pipeline/index.js');
      const p = opts.pipeline;
      const runs = [];
      for (const kind of ['clients', 'load'] as const) {
        const given = { quick: p.quick, search: p.search, ...(p.duration === undefined ? {} : { durationS: p.duration }) };
        const o = validateBenchOptions(assemble(kind, given));
        const flags = [p.quick ? ' --quick' : '', p.search ? ' --search' : '', p.duration === undefined ? '' : ` --duration ${p.duration}`].join('');
        const command = `npm run bench -- --suite pipeline${flags}   # = hrvault bench ${kind} --mode both --clients ${o.clients.join(',')} --rate ${o.rates.join(',')} --batch-interval ${o.batchIntervalS} --duration ${o.durationS}${o.search ? ' --search' : ''}`;
        runs.push(await runSweep(o, command, undefined, log));
      }
      return { outputs: { pipeline: { runs } }, table: runs.map((r) => `${r.kind}:\n${formatPoints(r.points)}`).join('\n') };
    },
  },
  access: {
    async run(log, opts) {
      const { runAccessBench, formatAccessTable } = await import('./access-bench.js');
      const r = await runAccessBench({ log, ...(opts.spDb ? { spDb: opts.spDb } : {}) });
      return { outputs: { access: r }, table: formatAccessTable(r) };
    },
  },
};

/** Parses a positive number of seconds given to `flag`. */
function seconds(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!(n > 0)) throw new InvalidArgumentError(`${flag} must be a positive number of seconds (got "${v}")`);
    return n;
  };
}

const program = new Command('bench')
  .addOption(new Option('--suite <name>', 'benchmark suite').choices(Object.keys(SUITES)).default('hrv'))
  .option('--sp-db <url>', 'access suite: run the SP on this PostgreSQL (in a schema of its own) instead of PGlite')
  .option('--quick', 'pipeline suite: two small points per mode and sweep (the harness end to end)')
  .option('--search', 'pipeline suite: also find the largest stable client count and rate of each mode')
  .addOption(new Option('--duration <s>', 'pipeline suite: seconds of load per point (default 300)').argParser(seconds('--duration')))
  .addOption(new Option('--enclave-budget <s>', 'enclave and micro suites: skip a batch size above 1,000 files whose estimated run exceeds this (default 60 s)').argParser(seconds('--enclave-budget')))
  .parse(process.argv);
const { suite, spDb, quick, search, duration, enclaveBudget } = program.opts<{ suite: string; spDb?: string; quick?: boolean; search?: boolean; duration?: number; enclaveBudget?: number }>();

const pipeline: PipelineFlags = { quick: quick === true, search: search === true, ...(duration === undefined ? {} : { duration }) };
const { outputs, table } = await SUITES[suite]!.run((line) => process.stderr.write(`${line}\n`), { ...(spDb ? { spDb } : {}), pipeline, ...(enclaveBudget === undefined ? {} : { enclaveBudgetS: enclaveBudget }) });
process.stdout.write(table.endsWith('\n') ? table : `${table}\n`);
const dir = join(ROOT, 'bench-results');
mkdirSync(dir, { recursive: true });
for (const [name, json] of Object.entries(outputs)) {
  const out = join(dir, `${name}.json`);
  writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
  process.stderr.write(`wrote ${out}\n`);
}
