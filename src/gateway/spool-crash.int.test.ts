/**
 * The spool killed (SIGKILL, by an armed failpoint) at each instant of a cut, in a child process; the restarted
 * spool must hold every acknowledged beat exactly once, under the sequence numbers the first cut would have used.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Spool, type PendingBatch } from './spool.js';

const SPOOL = fileURLToPath(new URL('./spool.ts', import.meta.url));

/** Runs `body` (TypeScript, with `spool` and `beat(p, s)` in scope) in a child with `failpoints` armed; returns its signal. */
function runChild(dir: string, failpoints: string, body: string): NodeJS.Signals | null {
  const script = join(dir, 'child.mts');
  writeFileSync(
    script,
    `import { Spool } from ${JSON.stringify(SPOOL)};
const spool = new Spool(${JSON.stringify(join(dir, 'gw'))});
const beat = (p: string, s: number) => ({ p, s, t: 1_000_000 + s * 800, r: 800 });
${body}
spool.close();
`,
  );
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, HRVAULT_FAILPOINTS: failpoints },
    encoding: 'utf8',
  });
  if (r.status !== 0 && r.signal === null) throw new Error(`child failed: ${r.stderr}`);
  return r.signal;
}

const ids = (batches: PendingBatch[]): string[] =>
  batches.flatMap((b) => b.beats.map((x) => `${b.patient}#${b.seq}:${x.s}`)).sort();

const EXPECTED: Record<string, string[]> = {
  // Not committed: the orphans are dropped, their beats cut again under the same numbers with the later ones.
  'gateway.cut.after-pending-write': ['A#1:1', 'A#2:2', 'A#2:3', 'A#2:4', 'B#1:1'],
  // Committed: the old segment is deleted at restart, the redelivered A3 is a duplicate, A4 goes to A#3.
  'gateway.cut.after-state-commit': ['A#1:1', 'A#2:2', 'A#2:3', 'A#3:4', 'B#1:1'],
};

describe('spool cut killed at each instant', () => {
  for (const [point, expected] of Object.entries(EXPECTED)) {
    it(`${point}: every acknowledged beat once, numbering kept`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hrv-spool-crash-'));
      // The first cut commits A#1; the second is killed at the instant.
      const signal = runChild(
        dir,
        `${point}=crash@2`,
        `await spool.append(beat('A', 1));
await spool.cut();
await Promise.all([spool.append(beat('A', 2)), spool.append(beat('A', 3)), spool.append(beat('B', 1))]);
await spool.cut();`,
      );
      expect(signal).toBe('SIGKILL');
      const r = new Spool(join(dir, 'gw'));
      // The broker redelivers the last unacknowledged beat, then the sensor goes on.
      expect(await r.append(beat('A', 3))).toBe('duplicate');
      expect(await r.append(beat('A', 4))).toBe('accepted');
      await r.cut();
      expect(ids(r.pending())).toEqual(expected);
      r.close();
    });
  }
});

function beat(p: string, s: number): { p: string; s: number; t: number; r: number } {
  return { p, s, t: 1_000_000 + s * 800, r: 800 };
}
