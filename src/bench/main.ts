/**
 * `npm run bench`: runs one benchmark suite (`--suite hrv`, the default, `--suite access`, `--suite gateway` or `--suite crypto`), prints its
 * table and writes bench-results/<suite>.json. Suites live in their own modules; this file only dispatches.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Suite {
  run(log: (line: string) => void, opts: { spDb?: string }): Promise<{ json: unknown; table: string }>;
}

const SUITES: Record<string, Suite> = {
  hrv: {
    async run(log) {
      const { runHrvBench, formatHrvBench } = await import('./hrv-bench.js');
      const r = runHrvBench(log);
      return { json: r, table: formatHrvBench(r) };
    },
  },
  gateway: {
    async run(log) {
      const { runGatewayBench, formatGatewayBench } = await import('./gateway-bench.js');
      const r = await runGatewayBench({ log });
      return { json: r, table: formatGatewayBench(r) };
    },
  },
  crypto: {
    async run(log) {
      const { runCryptoBench, formatCryptoBench } = await import('./crypto-bench.js');
      const r = runCryptoBench(log);
      return { json: r, table: formatCryptoBench(r) };
    },
  },
  access: {
    async run(log, opts) {
      const { runAccessBench, formatAccessTable } = await import('./access-bench.js');
      const r = await runAccessBench({ log, ...(opts.spDb ? { spDb: opts.spDb } : {}) });
      return { json: r, table: formatAccessTable(r) };
    },
  },
};

const program = new Command('bench')
  .addOption(new Option('--suite <name>', 'benchmark suite').choices(Object.keys(SUITES)).default('hrv'))
  .option('--sp-db <url>', 'access suite: run the SP on this PostgreSQL (in a schema of its own) instead of PGlite')
  .parse(process.argv);
const { suite, spDb } = program.opts<{ suite: string; spDb?: string }>();

const { json, table } = await SUITES[suite]!.run((line) => process.stderr.write(`${line}\n`), spDb ? { spDb } : {});
process.stdout.write(table.endsWith('\n') ? table : `${table}\n`);
const dir = join(ROOT, 'bench-results');
mkdirSync(dir, { recursive: true });
const out = join(dir, `${suite}.json`);
writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
process.stderr.write(`wrote ${out}\n`);
