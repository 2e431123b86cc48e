/**
 * Measurement (run with HRVAULT_MEASURE=1): GET /api/v1/patients for a doctor with 1,000 patients, each
 * with a real pipeline result stored through a gateway. Registration hashes 1,000 passwords (Argon2id),
 * so this is not part of the normal suite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPair } from '../crypto/index.js';
import { signDeviceToken } from '../csp/index.js';
import { makeHarness, type Harness } from '../test-support/access/harness.js';
import { pipelineResults } from '../test-support/pipeline-fixtures.js';
import { buildApi } from './server.js';
import type { FastifyInstance } from 'fastify';

const N = 1000;
const PW = 'correct horse battery staple';
let h: Harness;
let app: FastifyInstance;
let token: string;

describe.skipIf(process.env.HRVAULT_MEASURE !== '1')('measure: patient list with 1,000 patients', () => {
  beforeAll(async () => {
    h = await makeHarness('memory:', { deviceRateLimit: { perMinute: 1e6, burst: 1e6 } });
    const ids = Array.from({ length: N }, (_, i) => `P-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < N; i += 50) {
      await Promise.all(ids.slice(i, i + 50).map((id) => h.csp.registerUser('bootstrap', { username: `p${id.toLowerCase()}`, password: PW, role: 'patient', patient_id: id, display_name: `Patient ${id}` })));
    }
    await h.csp.registerUser('bootstrap', { username: 'doc', password: PW, role: 'doctor', patients: ids });
    const key = generateSigningKeyPair();
    await h.csp.registerDevice('bootstrap', { id: 'gw-m', signing_public_key: Buffer.from(key.publicKey).toString('hex'), patients: ids });
    const results = pipelineResults({ gateway: 'gw-m', durationS: 60 });
    const t0 = performance.now();
    for (let i = 0; i < N; i += 100) {
      const device = await h.csp.authenticateDevice(await signDeviceToken(key, 'gw-m'));
      await h.csp.ingestResults(device, { gateway: 'gw-m', items: ids.slice(i, i + 100).map((patient, k) => ({ patient, result: results[(i + k) % results.length]! })) });
    }
    console.log(`ingest: ${N} results (2,000 records) in ${Math.round(performance.now() - t0)} ms`);
    app = await buildApi({ csp: h.csp });
    token = (await h.csp.login('doc', PW)).access_token;
  }, 600_000);
  afterAll(async () => {
    await app?.close();
    await h?.close();
  });

  it('answers a sorted, filtered page fast', async () => {
    const times: number[] = [];
    for (const url of ['/api/v1/patients', '/api/v1/patients?sort=sdnn&order=desc&limit=50', '/api/v1/patients?q=P-09&sort=alerts', '/api/v1/patients?sort=last_data&offset=950']) {
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
        times.push(performance.now() - t);
        expect(res.statusCode).toBe(200);
        expect(res.json<{ total: number }>().total).toBeGreaterThan(0);
      }
    }
    times.sort((a, b) => a - b);
    console.log(`GET /patients (1,000 patients, 80 requests): median ${times[40]!.toFixed(1)} ms, p95 ${times[76]!.toFixed(1)} ms, max ${times[79]!.toFixed(1)} ms`);
    expect(times[76]!).toBeLessThan(100);
  });
});
