/**
 * Downsampled trends: the enclave's windows of a patient, read through the CSP and folded into time
 * buckets. Expected values are computed here from the pipeline's own results (the real producer).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HrvResult } from '../contracts/index.js';
import { seedResults } from '../test-support/access/seed.js';
import { hasSharedData } from '../test-support/shared-data.js';
import { FIXTURE_T0, makeApiFixture, type ApiFixture } from './test-support/api-fixture.js';
import { readTrends, TREND_MEASURES, type TrendsAnswer } from './trends.js';

let f: ApiFixture;
let hour: HrvResult[];
const T1 = FIXTURE_T0 + 3_600_000;
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe.skipIf(!hasSharedData())('HTTP: downsampled trends', () => {
  beforeAll(async () => {
    f = await makeApiFixture();
    hour = await seedResults(f.h.csp, 'P-A', { source: '100', startMs: T1, durationS: 600 });
  });
  afterAll(async () => {
    await f?.close();
  });

  const trends = (query: string, token = f.tokens.doctor, patient = 'P-A') =>
    f.app.inject({ method: 'GET', url: `/api/v1/patients/${patient}/trends${query}`, headers: token ? bearer(token) : {} });

  it('min, mean and max per bucket are those of the enclave windows that end in it', async () => {
    const from = T1;
    const to = T1 + 600_000;
    const res = await trends(`?from=${from}&to=${new Date(to).toISOString()}&buckets=7`);
    expect(res.statusCode, res.body).toBe(200);
    const a = res.json<TrendsAnswer>();
    expect(a.buckets).toHaveLength(7);
    expect(a.buckets[0]!.t_start_ms).toBe(from);
    expect(a.buckets.at(-1)!.t_end_ms).toBe(to);
    const inRange = hour.filter((r) => r.t_end_ms >= from && r.t_end_ms < to);
    expect(inRange.length).toBeGreaterThan(20);
    expect(a.windows).toBe(inRange.length);
    expect(a.refused).toBe(0);
    for (const [i, b] of a.buckets.entries()) {
      if (i > 0) expect(b.t_start_ms).toBe(a.buckets[i - 1]!.t_end_ms);
      const mine = inRange.filter((r) => r.t_end_ms >= b.t_start_ms && r.t_end_ms < b.t_end_ms);
      expect(b.windows).toBe(mine.length);
      for (const k of TREND_MEASURES) {
        const v = mine.map((r) => r.window.measures?.[k]).filter((x): x is number => typeof x === 'number');
        expect(b[k].n, `${i} ${k}`).toBe(v.length);
        if (v.length === 0) {
          expect(b[k]).toEqual({ n: 0, min: null, mean: null, max: null });
          continue;
        }
        expect(b[k].min).toBe(Math.min(...v));
        expect(b[k].max).toBe(Math.max(...v));
        expect(b[k].mean!).toBeCloseTo(v.reduce((s, x) => s + x, 0) / v.length, 9);
      }
    }
    expect(a.buckets.some((b) => b.sdnn_ms.n > 1 && b.sdnn_ms.min! < b.sdnn_ms.max!)).toBe(true);
  });

  it('reads every page: a small page size gives the same answer', async () => {
    const q = { from_ms: T1 + 10_000, to_ms: T1 + 590_000, buckets: 5 };
    const doctor = await f.h.csp.authenticate(f.tokens.doctor);
    const whole = await readTrends(f.h.csp, doctor, 'P-A', q);
    const paged = await readTrends(f.h.csp, doctor, 'P-A', q, 7);
    expect(whole.windows).toBe(hour.filter((r) => r.t_end_ms >= q.from_ms && r.t_end_ms < q.to_ms).length);
    expect(paged).toEqual(whole);
  });

  it('a window ending at `from` is in, one ending at `to` is out', async () => {
    const from = hour[3]!.t_end_ms;
    const to = hour[9]!.t_end_ms;
    const a = (await trends(`?from=${from}&to=${to}&buckets=1`)).json<TrendsAnswer>();
    expect(a.windows).toBe(6);
    expect(a.buckets[0]!.windows).toBe(6);
  });

  it('the policy decides: own patient yes, another patient 404, no token 401; bad buckets or range 400 naming the field', async () => {
    expect((await trends(`?from=${T1}&to=${T1 + 600_000}`, f.tokens.patient)).statusCode).toBe(200);
    expect((await trends(`?from=${T1}&to=${T1 + 600_000}`, f.tokens.doctor, 'P-B')).statusCode).toBe(404);
    expect((await trends(`?from=${T1}&to=${T1 + 600_000}`, '')).statusCode).toBe(401);
    for (const bad of ['0', '5001', 'ten', '-1']) {
      const res = await trends(`?buckets=${bad}`);
      expect(res.statusCode, bad).toBe(400);
      expect(res.json<{ field: string }>().field).toBe('querystring.buckets');
    }
    const backwards = await trends(`?from=${T1 + 1000}&to=${T1}`);
    expect(backwards.statusCode).toBe(400);
    expect(backwards.json<{ field: string }>().field).toBe('to');
    expect((await trends('?window=1')).json<{ detail: string }>().detail).toContain('window');
  });

  it('by default the last 24 hours in 200 buckets', async () => {
    const a = (await trends('')).json<TrendsAnswer>();
    expect(a.buckets).toHaveLength(200);
    expect(a.to_ms - a.from_ms).toBe(24 * 3_600_000);
  });
});
