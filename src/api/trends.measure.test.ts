/**
 * Measurement (run with HRVAULT_MEASURE=1): GET /api/v1/patients/:id/trends over 12,000 windows of the
 * synthetic sensor (33 h 20 min at one result per 10 s; more than one page of the CSP's reads), against
 * reading the same windows as records. Seeding runs the enclave's analysis and ingests 24,000 records,
 * so this is not part of the normal suite. Prints the times; asserts only the counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedResults } from '../test-support/access/seed.js';
import { FIXTURE_T0, makeApiFixture, type ApiFixture } from './test-support/api-fixture.js';
import type { TrendsAnswer } from './trends.js';

const WINDOWS = 12_000;
const T1 = FIXTURE_T0 + 86_400_000;
let f: ApiFixture;

describe.skipIf(process.env.HRVAULT_MEASURE !== '1')(`measure: trends over ${WINDOWS} windows`, () => {
  beforeAll(async () => {
    f = await makeApiFixture('memory:', { deviceRateLimit: { perMinute: 1e6, burst: 1e6 } });
    const t0 = performance.now();
    await seedResults(f.h.csp, 'P-A', { source: 'synthetic', syntheticPatient: 1, startMs: T1, durationS: WINDOWS * 10 });
    console.log(`seed: ${WINDOWS} results (${2 * WINDOWS} records) in ${Math.round(performance.now() - t0)} ms`);
  }, 3_600_000);
  afterAll(async () => {
    await f?.close();
  });

  it('folds every window into 500 buckets', async () => {
    const range = `from=${T1}&to=${T1 + WINDOWS * 10_000 + 1}`;
    const get = async (url: string) => {
      const t = performance.now();
      const res = await f.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${f.tokens.doctor}` } });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
      return { ms: performance.now() - t, bytes: res.body.length, body: res.body };
    };
    const trends = await get(`/api/v1/patients/P-A/trends?${range}&buckets=500`);
    const answer = JSON.parse(trends.body) as TrendsAnswer;
    expect(answer.windows).toBe(WINDOWS);
    expect(answer.buckets.reduce((s, b) => s + b.windows, 0)).toBe(WINDOWS);
    const raw = await get(`/api/v1/patients/P-A/records?type=hrv&${range}&limit=10000`);
    console.log(
      `GET /trends (${WINDOWS} windows, 500 buckets): ${trends.ms.toFixed(0)} ms, ${trends.bytes} bytes; ` +
        `GET /records?type=hrv (first 10,000 of them): ${raw.ms.toFixed(0)} ms, ${raw.bytes} bytes`,
    );
  }, 600_000);
});
