// Runs vitest (both projects of vitest.config.ts: `unit`, then `int`) and ends with one plain summary line
// ("tests: N passed, N failed, N skipped") so CI can read real counts whatever reporter vitest uses.
// Before it, the wall time of each project and the slowest files, so a slow or loaded run shows where the
// time went.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { isIntTest } from './test-projects.mjs';

const out = '.vitest-results.json';
rmSync(out, { force: true });
// vitest's own entry point, run by this node: no npx start-up, and the same node as the caller's.
const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
const args = [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)];
const started = Date.now();
const run = spawnSync(process.execPath, args, { stdio: 'inherit' });
const wallS = (Date.now() - started) / 1000;

let summary;
try {
  const r = JSON.parse(readFileSync(out, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  const files = (r.testResults ?? []).map((f) => ({
    name: relative(process.cwd(), f.name),
    start: f.startTime ?? 0,
    end: f.endTime ?? 0,
  }));
  const span = (fs) =>
    fs.length === 0 ? 0 : (Math.max(...fs.map((f) => f.end)) - Math.min(...fs.map((f) => f.start))) / 1000;
  const int = files.filter((f) => isIntTest(f.name));
  const unit = files.filter((f) => !int.includes(f));
  console.log(
    `\ntest wall time ${wallS.toFixed(0)} s (unit project ${span(unit).toFixed(0)} s, int project ${span(int).toFixed(0)} s)`,
  );
  const slowest = [...files].sort((a, b) => b.end - b.start - (a.end - a.start)).slice(0, 5);
  console.log(`slowest files: ${slowest.map((f) => `${f.name} ${((f.end - f.start) / 1000).toFixed(1)} s`).join(', ')}`);
  summary = `tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`;
} catch (err) {
  summary = `tests: 0 passed, 1 failed (no vitest results: ${err instanceof Error ? err.message : String(err)})`;
}
console.log(summary);
process.exit(run.status ?? 1);
