/**
 * The gateway's CSP forwarder against a real CSP over HTTP (the API on a CSP/SP harness): a backlog larger than
 * the CSP stores within one request's timeout must still drain. Each item of an ingest is one crash-atomic append
 * (intent, SP transaction, index and audit), so a full request of MAX_INGEST_ITEMS takes the CSP seconds; after
 * an outage the oldest full batch was resent whole after every timeout — stored the first time, then answered
 * "duplicate" item by item, never within the timeout — and nothing behind it was ever delivered (seen in the
 * fault suite's access-failpoints scenario: 340 results stuck in the outbox).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApi } from '../api/index.js';
import { generateSigningKeyPair } from '../crypto/index.js';
import { makeHarness, type Harness } from '../test-support/access/harness.js';
import { pipelineResults } from '../test-support/pipeline-fixtures.js';
import { deviceToken, INGEST_PATH, startCspForwarder } from './csp-forwarder.js';
import { ResultOutbox } from './result-outbox.js';

const GATEWAY = 'gw-forward';
const dirs: string[] = [];
let h: Harness | undefined;
let app: FastifyInstance | undefined;
afterAll(async () => {
  await app?.close();
  await h?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('CSP forwarder', () => {
  it('drains a backlog that the CSP cannot store within one request timeout', async () => {
    // The device rate limit is not what this test is about: high enough never to answer 429.
    h = await makeHarness('memory:', { deviceRateLimit: { perMinute: 100_000, burst: 10_000 } });
    await h.csp.registerUser('bootstrap', { username: 'pat', password: 'correct horse battery staple', role: 'patient', patient_id: 'P-A' });
    const key = generateSigningKeyPair();
    await h.csp.registerDevice('bootstrap', { id: GATEWAY, signing_public_key: Buffer.from(key.publicKey).toString('hex'), patients: ['P-A'] });
    app = await buildApi({ csp: h.csp });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    // 2-s batches of the enclave's own analysis: 150 real results for one patient.
    const results = pipelineResults({ source: 'synthetic', gateway: GATEWAY, durationS: 300, batchMs: 2000 });
    const ingest = async (from: number, to: number): Promise<number> => {
      const t0 = performance.now();
      const res = await fetch(`${url}${INGEST_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await deviceToken(GATEWAY, key.privateKey)}` },
        body: JSON.stringify({ gateway: GATEWAY, items: results.slice(from, to).map((result) => ({ patient: 'P-A', result })) }),
      });
      expect(res.status).toBe(200);
      return (performance.now() - t0) / (to - from);
    };
    // What one stored item costs this CSP on this machine now (after a warm-up): the timeout is set from it, so
    // that about 20 items fit in one request and a full request of 200 does not, however loaded the machine.
    await ingest(0, 10);
    const perItemMs = await ingest(10, 30);
    const dir = mkdtempSync(join(tmpdir(), 'forwarder-'));
    dirs.push(dir);
    const outbox = ResultOutbox.open(dir);
    for (const r of results.slice(30)) expect(outbox.accept('P-A', r)).toBe('accepted');
    const forwarder = startCspForwarder({
      url,
      gatewayId: GATEWAY,
      signingPrivateKey: key.privateKey,
      outbox,
      logger: pino({ level: 'silent' }),
      retryMaxMs: 200,
      timeoutMs: Math.max(300, Math.round(20 * perItemMs)),
    });
    try {
      forwarder.kick();
      const drained = await forwarder.drain(30_000);
      expect(drained, `outbox still holds ${outbox.size} of ${results.length - 30} (stats ${JSON.stringify(forwarder.stats())})`).toBe(true);
    } finally {
      await forwarder.stop();
    }
    // Every result stored once: an hrv and an rr_batch record each, none twice.
    const [row] = await h.cspDb.query<{ c: number | string }>('SELECT count(*) AS c FROM csp_record_index');
    expect(Number(row!.c)).toBe(2 * results.length);
  }, 120_000);
});
