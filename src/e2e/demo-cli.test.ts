/** `hrvault demo … --json` as a user runs it: exit code 0 and one JSON summary on stdout. */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('hrvault demo', () => {
  it('--patients 20 --duration 30 --json exits 0 and prints the summary (accelerated)', () => {
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli.ts',
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
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 50_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
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
  }, 60_000);

  it('refuses a bad flag with a one-line error and exit code 2', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'demo', '--mode', 'fast'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--mode must be secure or plain/);
  }, 30_000);

  it('component commands refuse a bad environment value naming the variable', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'gateway'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, HRVAULT_GATEWAY_BATCH_INTERVAL_MS: 'soon' },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/HRVAULT_GATEWAY_BATCH_INTERVAL_MS/);
  }, 30_000);
});
