/** `hrvault demo … --json` as a user runs it: exit code 0 and one JSON summary on stdout. */
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../test-support/processes.js';

describe('hrvault demo', () => {
  it('--patients 20 --duration 30 --json exits 0 and prints the summary (accelerated)', async () => {
    const r = await runCli(
      [
        'demo',
        '--patients',
        '20',
        '--duration',
        '30',
        '--speed',
        '10',
        '--batch-interval',
        '1',
        '--port',
        '0',
        '--json',
      ],
      // A deadline for a stuck run, not its expected length (3 s simulated at 10×, plus the drain).
      { timeoutMs: 150_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const s = JSON.parse(lines[0]!) as Record<string, unknown>;
    for (const k of [
      'beats_published',
      'beats_analysed',
      'duplicates',
      'lost',
      'files',
      'batches',
      'batch_ms_mean',
      'batch_ms_p99',
      'results_verified',
      'alerts',
      'rejected_files',
    ]) {
      expect(s, k).toHaveProperty(k);
    }
    expect(s.beats_analysed).toBe(s.beats_published);
    expect(s.lost).toBe(0);
    expect(s.results_verified).toBe(s.files);
    // Every verified result became a clinical record through the access stack.
    expect(s.records_ingested).toBe(s.results_verified);
    // Progress goes to stderr, one status line per batch interval.
    expect(r.stderr.split('\n').filter((l) => l.includes('published')).length).toBeGreaterThan(1);
    rmSync(String(s.data_dir), { recursive: true, force: true });
  });

  it('refuses a bad flag with a one-line error and exit code 2', async () => {
    const r = await runCli(['demo', '--mode', 'fast']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--mode must be secure or plain/);
  });

  it('component commands refuse a bad environment value naming the variable', async () => {
    const r = await runCli(['gateway'], { env: { HRVAULT_GATEWAY_BATCH_INTERVAL_MS: 'soon' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/HRVAULT_GATEWAY_BATCH_INTERVAL_MS/);
  });
});
