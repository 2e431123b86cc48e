/**
 * The harness end to end, as CI runs it: `hrvault bench clients --quick --mode both --json` with real processes (server
 * child with the SFTP host and the enclave child, load-generator child), then `hrvault bench report` on its JSON.
 * Checks the shape of what it prints and writes and that every result came back verified; never performance.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test-support/processes.js';
import { hasTaskset } from './children.js';

const dir = mkdtempSync(join(tmpdir(), 'hrvault-bench-int-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NUMBER_OR_NULL = ['batch_ms_mean', 'batch_ms_p50', 'batch_ms_p99', 'batch_ms_max', 'e2e_ms_p50', 'e2e_ms_p99', 'beats_per_s', 'bytes_per_s', 'host_cpu_pct', 'generator_cpu_pct'];

describe('hrvault bench clients --quick', () => {
  it('measures two points per mode through the real pipeline, every result verified, and the report renders them', async () => {
    const r = await runCli(['bench', 'clients', '--quick', '--mode', 'both', '--json', '--out-dir', dir], { timeoutMs: 170_000 });
    expect(r.code, r.stderr).toBe(0);
    const points = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(points.map((p) => `${String(p.mode)} ${String(p.clients)}`).sort()).toEqual(['plain 10', 'plain 40', 'secure 10', 'secure 40']);
    for (const p of points) {
      expect(p).toMatchObject({ rate: 1, batch_interval_s: 1, duration_s: 3, results_rejected: 0, results_missing: 0, first_error: null, pinned: hasTaskset() });
      expect(typeof p.stable).toBe('boolean');
      expect(typeof p.uploads_kept_up).toBe('boolean');
      for (const k of NUMBER_OR_NULL) expect(typeof p[k], k).toBe('number');
      expect(p.files_sent).toBe(3 * Number(p.clients));
      expect(p.results_verified).toBe(p.files_sent);
      expect(Number(p.batches)).toBeGreaterThan(0);
      expect(p.enclave_cpu_pct === null).toBe(p.mode === 'plain');
      // The host's own steps of each micro-batch, averaged: together never more than the micro-batch itself.
      const phases = p.batch_phases_ms_mean as Record<string, number>;
      expect(Object.keys(phases).sort()).toEqual(['analyse', 'file', 'list', 'read', 'write']);
      expect(Object.values(phases).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(Number(p.batch_ms_mean) + 1);
    }
    // Progress while it runs, on stderr.
    expect(r.stderr).toMatch(/micro-batch \d+: \d+ files in \d+ ms/);
    const csv = readFileSync(join(dir, 'pipeline-clients.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(5);
    expect(csv[0]).toMatch(/^mode,clients,rate,batch_interval_s,duration_s,/);

    const out = join(dir, 'docs', 'benchmarks.md');
    const rep = await runCli(['bench', 'report', '--in', join(dir, 'pipeline-clients.json'), '--out', out], { timeoutMs: 60_000 });
    expect(rep.code, rep.stderr).toBe(0);
    const md = readFileSync(out, 'utf8');
    expect(md).toContain('hrvault bench clients --quick --mode both --json');
    expect(md).toContain('![processing time against clients](img/pipeline-clients.svg)');
    expect(md.match(/^\| (secure|plain) \| (10|40) \|/gm)).toHaveLength(4);
    expect(existsSync(join(dir, 'docs', 'img', 'pipeline-clients.svg'))).toBe(true);
  });
});
