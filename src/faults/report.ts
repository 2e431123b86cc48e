/** The invariant block every scenario prints when it ends, whatever its outcome. */
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
}

const list = (label: string, findings: string[] | undefined, notChecked: string): string =>
  findings === undefined
    ? `${label}: not checked (${notChecked})`
    : `${label}: ${findings.length === 0 ? 'HOLDS' : `BROKEN (${findings.length})`}${findings.slice(0, 8).map((f) => `\n  ${f}`).join('')}`;

/** Prints the scenario's invariants (I1–I4) to the test log; `facts` are the scenario's own counters. */
export function printInvariants(scenario: string, inv: Invariants, facts: Record<string, unknown> = {}): void {
  const lines = [
    `=== faults: ${scenario}`,
    ...(Object.keys(facts).length > 0 ? [`facts: ${JSON.stringify(facts)}`] : []),
    ...(inv.gatewayStartFailures?.length ? [`gateway died while starting (restarted) ${inv.gatewayStartFailures.length}×: ${inv.gatewayStartFailures.slice(0, 3).join(' | ')}`] : []),
    inv.i1 === undefined ? 'I1 every acknowledged beat analysed exactly once: not checked' : formatExactlyOnce(inv.i1),
    list('I2 nothing readable on the untrusted host (disk, logs)', inv.i2, 'not in this scenario'),
    list('I3 results equal a clean run', inv.i3, 'not in this scenario'),
    list('I4 audit verifies, every record has its entry', inv.i4, 'no CSP in this scenario'),
  ];
  console.log(lines.join('\n'));
}
