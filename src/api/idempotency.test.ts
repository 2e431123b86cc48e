/**
 * A client that retries after a lost answer must not create a second record: every POST that creates a record
 * takes an `Idempotency-Key` (scoped to the caller). The same key and body returns the first record; the same key
 * with another body is a conflict; a malformed key is refused naming the header.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApiFixture, type ApiFixture } from './test-support/api-fixture.js';

let f: ApiFixture;
beforeAll(async () => {
  f = await makeApiFixture();
});
afterAll(async () => {
  await f?.close();
});

const headers = (token: string, key?: string) => ({ authorization: `Bearer ${token}`, ...(key === undefined ? {} : { 'idempotency-key': key }) });
const total = async (type: string): Promise<number> =>
  (await f.app.inject({ method: 'GET', url: `/api/v1/patients/P-A/records?type=${type}`, headers: headers(f.tokens.doctor) })).json<{ total: number }>().total;

describe('Idempotency-Key on the POSTs that create records', () => {
  it('a retried vitals append returns the same record and stores one', async () => {
    const body = { type: 'vitals', t_ms: Date.UTC(2026, 0, 2), data: { systolic_mmhg: 121, diastolic_mmhg: 79, hr_bpm: 64 } };
    const before = await total('vitals');
    const first = await f.app.inject({ method: 'POST', url: '/api/v1/patients/P-A/records', headers: headers(f.tokens.health_worker, 'vitals-retry-1'), payload: body });
    expect(first.statusCode).toBe(201);
    const again = await f.app.inject({ method: 'POST', url: '/api/v1/patients/P-A/records', headers: headers(f.tokens.health_worker, 'vitals-retry-1'), payload: body });
    expect(again.statusCode).toBe(201);
    expect(again.json<{ id: string }>().id).toBe(first.json<{ id: string }>().id);
    expect(await total('vitals')).toBe(before + 1);
    const other = await f.app.inject({
      method: 'POST',
      url: '/api/v1/patients/P-A/records',
      headers: headers(f.tokens.health_worker, 'vitals-retry-1'),
      payload: { ...body, data: { ...body.data, systolic_mmhg: 150 } },
    });
    expect(other.statusCode).toBe(409);
    expect(await total('vitals')).toBe(before + 1);
  });

  it('a retried prescription returns the same record', async () => {
    const body = { medication: 'bisoprolol', dose: '2.5 mg once daily', text: 'review in 4 weeks' };
    const before = await total('prescription');
    const a = await f.app.inject({ method: 'POST', url: '/api/v1/patients/P-A/prescriptions', headers: headers(f.tokens.doctor, 'rx-1'), payload: body });
    const b = await f.app.inject({ method: 'POST', url: '/api/v1/patients/P-A/prescriptions', headers: headers(f.tokens.doctor, 'rx-1'), payload: body });
    expect([a.statusCode, b.statusCode]).toEqual([201, 201]);
    expect(b.json<{ id: string }>().id).toBe(a.json<{ id: string }>().id);
    expect(await total('prescription')).toBe(before + 1);
  });

  it('a malformed key is refused naming the header, and nothing is stored', async () => {
    const before = await total('note');
    const r = await f.app.inject({
      method: 'POST',
      url: '/api/v1/patients/P-A/records',
      headers: headers(f.tokens.health_worker, 'x'.repeat(300)),
      payload: { type: 'note', data: { text: 'hello' } },
    });
    expect(r.statusCode).toBe(400);
    expect(r.body.toLowerCase()).toContain('idempotency-key');
    expect(await total('note')).toBe(before);
  });
});
