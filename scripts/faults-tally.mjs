// `npm run faults:tally [-- --since ISO]`: how many times each fault scenario ran (from the run records that
// src/faults/report.ts appends to fault-results/runs.jsonl) and whether each invariant held every time, as a
// Markdown table; `--json` prints the same as one JSON object per scenario.
import { existsSync, readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const sinceArg = args.indexOf('--since');
const since = sinceArg >= 0 ? Date.parse(args[sinceArg + 1] ?? '') : Number.NEGATIVE_INFINITY;
if (Number.isNaN(since)) {
  console.error('faults:tally: --since needs an ISO date, e.g. 2026-12-02T08:00Z');
  process.exit(2);
}
const path = process.env.HRVAULT_FAULTS_RESULTS ?? 'fault-results/runs.jsonl';
if (!existsSync(path)) {
  console.error(`faults:tally: no run records at ${path} (run npm run test:faults first)`);
  process.exit(2);
}

const byScenario = new Map();
for (const [n, line] of readFileSync(path, 'utf8').split('\n').entries()) {
  if (line.trim() === '') continue;
  let r;
  try {
    r = JSON.parse(line);
  } catch {
    console.error(`faults:tally: ${path}:${n + 1} is not JSON; skipped`);
    continue;
  }
  if (Date.parse(r.at) < since) continue;
  const list = byScenario.get(r.scenario) ?? [];
  list.push(r);
  byScenario.set(r.scenario, list);
}

/** "held n/m", or "—" when no run of the scenario checks the invariant; "(broken as expected)" for a demonstrated finding. */
const held = (runs, ok) => {
  const checked = runs.filter((r) => ok(r) !== null);
  return checked.length === 0 ? '—' : `${checked.filter((r) => ok(r) === true).length}/${checked.length}`;
};
/** Whether invariant `k` came out as the scenario means it to: held, or broken where the scenario demonstrates a finding. */
const asMeant = (r, k, holds) => ((r.expectedBroken ?? []).includes(k) ? !holds : holds);
const rows = [...byScenario].map(([scenario, runs]) => {
  const acked = runs.map((r) => r.i1?.acked ?? 0);
  // Trailing runs in which every checked invariant came out as meant (held, or broken where the scenario demonstrates a
  // finding): "three in a row" is read here.
  let streak = 0;
  for (const r of [...runs].reverse()) {
    const ok =
      (r.i1 === null || asMeant(r, 'i1', r.i1.ok)) &&
      ['i2', 'i3', 'i4'].every((k) => r[k] === null || asMeant(r, k, r[k] === 0));
    if (!ok) break;
    streak++;
  }
  return {
    scenario,
    runs: runs.length,
    i1:
      held(runs, (r) => (r.i1 === null ? null : r.i1.ok)) +
      (runs.some((r) => (r.expectedBroken ?? []).includes('i1')) ? ' (broken as expected)' : ''),
    i2: held(runs, (r) => (r.i2 === null ? null : r.i2 === 0)),
    i3: held(runs, (r) => (r.i3 === null ? null : r.i3 === 0)),
    i4: held(runs, (r) => (r.i4 === null ? null : r.i4 === 0)),
    acked: `${Math.min(...acked)}–${Math.max(...acked)}`,
    seeds: [...new Set(runs.map((r) => r.seed))].join(','),
    lastAsMeantStreak: streak,
  };
});

if (args.includes('--json')) {
  for (const r of rows) console.log(JSON.stringify(r));
} else {
  console.log(
    '| scenario | runs | I1 held | I2 held | I3 held | I4 held | acked beats per run | seeds | last runs as meant |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows)
    console.log(
      `| ${r.scenario} | ${r.runs} | ${r.i1} | ${r.i2} | ${r.i3} | ${r.i4} | ${r.acked} | ${r.seeds} | ${r.lastAsMeantStreak} |`,
    );
}
