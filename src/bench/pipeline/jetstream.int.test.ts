/**
 * JetStream mode of the harness end to end (issue 11): `hrvault bench clients --quick --jetstream URL --workers 1 --json`
 * with real processes (host child publishing to the shared nats-server, one worker child with its enclave child, the
 * load generator), against the standalone server. Checks every result came back verified, the worker figures are
 * there, and the point's streams are gone afterwards; never performance.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test-support/processes.js';
import { NATS_URL, standaloneSkipReason } from '../../jetstream/test-support/standalone.js';

const skipReason = await standaloneSkipReason();
const dir = mkdtempSync(join(tmpdir(), 'hrvault-bench-js-int-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The names of the benchmark deployments' streams on the shared server right now. */
async function benchStreams(): Promise<Set<string>> {
  const nc = await connect({ servers: NATS_URL });
  try {
    const names = new Set<string>();
    for await (const s of (await jetstreamManager(nc)).streams.list()) if (/bench_[0-9a-f]{10}/.test(s.config.name)) names.add(s.config.name);
    return names;
  } finally {
    await nc.close();
  }
}

describe.skipIf(skipReason !== null)('hrvault bench clients --quick --jetstream', () => {
  it('measures a point with one worker process, every result verified, and removes its streams', async () => {
    const before = await benchStreams();
    const r = await runCli(['bench', 'clients', '--quick', '--jetstream', `nats://${NATS_URL}`, '--workers', '1', '--json', '--out-dir', dir], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const points = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(points).toHaveLength(1);
    const p = points[0]!;
    // The run's log (host ticks, the worker's warnings) says where a missing result went.
    expect(p, r.stderr).toMatchObject({ mode: 'secure', workers: 1, clients: 20, rate: 1, batch_interval_s: 1, results_rejected: 0, results_missing: 0, first_error: null });
    expect(p.files_sent).toBe(60);
    expect(p.results_verified).toBe(p.files_sent);
    // The one worker analysed every file (a redelivery would count twice and show here).
    expect(p.worker_files).toEqual([p.files_sent]);
    expect(typeof p.worker_cpu_pct).toBe('number');
    expect(typeof p.worker_enclave_cpu_pct).toBe('number');
    // The host has no enclave in JetStream mode.
    expect(p.enclave_cpu_pct).toBeNull();
    expect(typeof p.stable).toBe('boolean');
    expect(r.stderr).toMatch(/worker 0 running/);
    expect(r.stderr).toMatch(/host tick \d+: \d+ files published/);
    const left = [...(await benchStreams())].filter((s) => !before.has(s));
    expect(left, r.stderr).toEqual([]);
  });
});
