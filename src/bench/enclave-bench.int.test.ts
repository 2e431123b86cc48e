/**
 * The enclave suite end to end at N = 10: the real enclave child process, the in-process core and the plain path
 * each take every batch without a rejection, the figures are consistent with each other, the budget skips a size,
 * and the report renders the JSON. Never performance.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatEnclaveBench, runEnclaveBench } from './enclave-bench.js';
import { microSection, readMicroResults } from './pipeline/report-micro.js';

describe('npm run bench -- --suite enclave', () => {
  it('runs 10-file micro-batches through the enclave process, the in-process core and plain, and the report renders them', async () => {
    const lines: string[] = [];
    // budgetS 0: the second size (above the 1,000 files that always run) is estimated over it, so it is skipped with its reason.
    const r = await runEnclaveBench({ sizes: [10, 2000], batches: 2, budgetS: 0, log: (l) => lines.push(l) });
    expect(r.sizes.map((s) => s.files)).toEqual([10]);
    expect(r.skipped).toEqual([{ files: 2000, reason: expect.stringMatching(/^estimated \d+ s from the 10-file run, over the 0-s budget$/) as string }]);
    const s = r.sizes[0]!;
    expect(s.warmup_batches).toBe(100);
    expect(lines.filter((l) => l.startsWith('enclave bench, 10 files, batch'))).toHaveLength(102);
    expect(s.batches).toBe(2);
    expect(r.file_bytes).toBeGreaterThan(1024);
    for (const p of [s.enclave_process, s.in_process_core, s.plain]) {
      expect(p.batch_ms).toBeGreaterThan(0);
      expect(p.file_us).toBeCloseTo((p.batch_ms * 1000) / 10, 0);
    }
    expect(s.commit_wait_ms === null).toBe(s.in_process_core_tmpfs === undefined);
    expect(formatEnclaveBench(r)).toContain('10 files per batch, median of 2 batches after 100 warm-up:');

    const dir = mkdtempSync(join(tmpdir(), 'hrvault-enclave-bench-'));
    try {
      writeFileSync(join(dir, 'enclave.json'), JSON.stringify(r));
      const md = microSection(readMicroResults(dir), dir).join('\n');
      expect(md).toContain(`From \`${join(dir, 'enclave.json')}\``);
      expect(md).toMatch(/^\| 10 \| enclave child process \(IPC \+ core\) \| [0-9.,]+ \/ [0-9.,]+ \|/m);
      expect(md).toMatch(/^\| 10 \| plain, in-host HrvAnalyser \|/m);
      expect(md).toContain('- 2,000 files per batch not measured: estimated');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
