/**
 * The invariant block every scenario prints when it ends, whatever its outcome, and the run record it appends to
 * `fault-results/runs.jsonl` (one JSON object per scenario run) so that `npm run faults:tally` can say how many
 * times each scenario ran and whether every invariant held each time.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT } from '../test-support/processes.js';
import { formatExactlyOnce, type ExactlyOnceReport } from './checker.js';

export interface Invariants {
  i1?: ExactlyOnceReport;
  /** Plaintext findings on the untrusted host's disk and logs (empty = holds). */
  i2?: string[];
  /** Differences from the clean run (empty = holds). */
  i3?: string[];
  /** Audit problems (empty = holds). */
  i4?: string[];
  /** Gateway processes that died while starting (restarted, as a supervisor would). */
  gatewayStartFailures?: string[];
  /** Invariants this scenario demonstrates broken on purpose (a finding outside our code, e.g. a broker's default configuration); the scenario asserts the breakage. */
  expectedBroken?: ('i1' | 'i2' | 'i3' | 'i4')[];
}

/** One scenario run as `fault-results/runs.jsonl` keeps it: null = the invariant is not checked by that scenario. */
export interface RunRecord {
  scenario: string;
  /** ISO time the scenario ended. */
  at: string;
  seed: number | null;
  i1: { ok: boolean; acked: number; analysed: number; missing: number; duplicated: number; unknown: number } | null;
  i2: number | null;
  i3: number | null;
  i4: number | null;
  /** Invariants broken on purpose (see Invariants.expectedBroken): held = broken, for the tally. */
  expectedBroken: ('i1' | 'i2' | 'i3' | 'i4')[];
  facts: Record<string, unknown>;
}

/** Where run records go: `HRVAULT_FAULTS_RESULTS` or `<repo>/fault-results/runs.jsonl`. */
export function runRecordsPath(): string {
  return process.env.HRVAULT_FAULTS_RESULTS ?? join(ROOT, 'fault-results', 'runs.jsonl');
}

const list = (label: string, findings: string[] | undefined, notChecked: string): string =>
  findings === undefined
    ? `${label}: not checked (${notChecked})`
    : `${label}: ${findings.length === 0 ? 'HOLDS' : `BROKEN (${findings.length})`}${findings.slice(0, 8).map((f) => `\n  ${f}`).join('')}`;

/** Prints the scenario's invariants (I1–I4) to the test log and appends its run record; `facts` are the scenario's own counters. */
export function printInvariants(scenario: string, inv: Invariants, facts: Record<string, unknown> = {}): void {
  const lines = [
    `=== faults: ${scenario}`,
    ...(Object.keys(facts).length > 0 ? [`facts: ${JSON.stringify(facts)}`] : []),
    ...(inv.gatewayStartFailures?.length ? [`gateway died while starting (restarted) ${inv.gatewayStartFailures.length}×: ${inv.gatewayStartFailures.slice(0, 3).join(' | ')}`] : []),
    ...(inv.expectedBroken?.length ? [`expected broken here (the scenario asserts it): ${inv.expectedBroken.join(', ').toUpperCase()}`] : []),
    inv.i1 === undefined ? 'I1 every acknowledged beat analysed exactly once: not checked' : formatExactlyOnce(inv.i1),
    list('I2 nothing readable on the untrusted host (disk, logs)', inv.i2, 'not in this scenario'),
    list('I3 results equal a clean run', inv.i3, 'not in this scenario'),
    list('I4 audit verifies, every record has its entry', inv.i4, 'no CSP in this scenario'),
  ];
  console.log(lines.join('\n'));
  const { i1 } = inv;
  const record: RunRecord = {
    scenario,
    at: new Date().toISOString(),
    seed: typeof facts.seed === 'number' ? facts.seed : null,
    i1: i1 === undefined ? null : { ok: i1.ok, acked: i1.acked, analysed: i1.analysed, missing: i1.missing, duplicated: i1.duplicated, unknown: i1.unknown },
    i2: inv.i2?.length ?? null,
    i3: inv.i3?.length ?? null,
    i4: inv.i4?.length ?? null,
    expectedBroken: inv.expectedBroken ?? [],
    facts,
  };
  const path = runRecordsPath();
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, `${JSON.stringify(record)}\n`);
}
