/**
 * End to end in JetStream mode on the nats-server at 127.0.0.1:4222 (skipped with a printed reason where none
 * answers): sensors → broker → gateway → SFTP → host publishing to the work stream → three enclave workers (each its
 * own enclave child; the first bootstraps the cluster secrets, the others are provisioned by it over NATS) → results
 * stream → host → gateway. The gateway attests through the host, which relays to any worker.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { runDemo } from '../commands/index.js';
import { patientId } from '../sensor/index.js';
import { plaintextFindings, runCsvLines } from './helpers.js';

const NATS_URL = 'nats://127.0.0.1:4222';
let skipReason: string | null = null;
try {
  const nc = await connect({ servers: NATS_URL, timeout: 1000, reconnect: false });
  await nc.close();
} catch (err) {
  skipReason = `no nats-server at ${NATS_URL} (${(err as Error).message})`;
  console.log(`skipped: ${skipReason}`);
}

const silent = { out: () => undefined, err: () => undefined };

describe.skipIf(skipReason !== null)('JetStream mode end to end', () => {
  it('10 patients × 60 s on 3 workers: every beat analysed once, every result verified, partitions shared, no plaintext on the hosts', async () => {
    const startMs = Date.UTC(2026, 0, 3);
    const s = await runDemo(
      {
        patients: 10,
        durationS: 60,
        batchIntervalS: 0.5,
        mode: 'secure',
        speed: 20,
        startMs,
        logLevel: 'warn',
        jetstream: { url: NATS_URL, workers: 3 },
      },
      silent,
    );
    expect(s.beats_published).toBeGreaterThan(10 * 50);
    expect(s.beats_analysed).toBe(s.beats_published);
    expect([s.lost, s.not_analysed, s.duplicates, s.rejected_files, s.results_rejected]).toEqual([
      0, 0, 0, 0, 0,
    ]);
    expect(s.results_verified).toBe(s.files);
    // Every worker took a share of the 16 partitions, and between them they analysed every file.
    expect(s.workers).toHaveLength(3);
    for (const w of s.workers!) expect(w.runners_started, w.id).toBeGreaterThan(0);
    expect(s.workers!.reduce((n, w) => n + w.files, 0)).toBeGreaterThanOrEqual(s.files);
    expect(s.workers!.filter((w) => w.files > 0).length).toBeGreaterThanOrEqual(2);
    // The hosts (the cloud's and each worker's directory) hold ciphertext only.
    const lines = runCsvLines(10, 60, startMs);
    const ids = Array.from({ length: 10 }, (_, i) => patientId(i + 1));
    for (const d of ['cloud', ...readdirSync(s.data_dir).filter((n) => n.startsWith('worker-'))])
      expect(plaintextFindings(join(s.data_dir, d), lines, ids), d).toEqual([]);
    rmSync(s.data_dir, { recursive: true, force: true });
  });
});
