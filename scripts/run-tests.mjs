// Runs vitest and ends with one plain summary line ("tests: N passed, N failed, N skipped")
// so CI can read real counts whatever reporter vitest uses.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';

const out = '.vitest-results.json';
rmSync(out, { force: true });
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)];
const run = spawnSync('npx', args, { stdio: 'inherit' });
let summary;
try {
  const r = JSON.parse(readFileSync(out, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  summary = `tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`;
} catch (err) {
  summary = `tests: 0 passed, 1 failed (no vitest results: ${err instanceof Error ? err.message : String(err)})`;
}
console.log(summary);
process.exit(run.status ?? 1);
