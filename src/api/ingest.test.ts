/** The device endpoints over HTTP: registration, revocation, and POST /api/v1/ingest/results. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPair } from '../crypto/index.js';
import type { HrvResult } from '../contracts/index.js';
import { signDeviceToken } from '../csp/index.js';
import { pipelineResults } from '../test-support/pipeline-fixtures.js';
import { hasSharedData } from '../test-support/shared-data.js';
import { makeApiFixture, type ApiFixture } from './test-support/api-fixture.js';

let f: ApiFixture;
const gw = generateSigningKeyPair();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
let results: HrvResult[];

describe.skipIf(!hasSharedData())('HTTP: devices and the result ingest', () => {
  beforeAll(async () => {
    f = await makeApiFixture('memory:', { deviceRateLimit: { perMinute: 60, burst: 8 } });
    results = pipelineResults({ gateway: 'gw-h', durationS: 40 });
  });
  afterAll(async () => {
    await f?.close();
  });

  const ingest = async (body: unknown, token?: string) =>
    f.app.inject({ method: 'POST', url: '/api/v1/ingest/results', payload: body as object, headers: bearer(token ?? (await signDeviceToken(gw, 'gw-h'))) });

  it('an admin registers a device; others are refused; unknown patients are named', async () => {
    const body = { id: 'gw-h', signing_public_key: hex(gw.publicKey), patients: ['P-A'] };
    const doc = await f.app.inject({ method: 'POST', url: '/api/v1/devices', payload: body, headers: bearer(f.tokens.doctor) });
    expect(doc.statusCode).toBe(403);
    const unknown = await f.app.inject({ method: 'POST', url: '/api/v1/devices', payload: { ...body, patients: ['P-A', 'P-ZZ'] }, headers: bearer(f.tokens.admin) });
    expect(unknown.statusCode).toBe(422);
    expect(unknown.json()).toMatchObject({ field: 'patients', detail: expect.stringContaining('P-ZZ') });
    const ok = await f.app.inject({ method: 'POST', url: '/api/v1/devices', payload: body, headers: bearer(f.tokens.admin) });
    expect(ok.statusCode).toBe(201);
    expect(ok.json()).toMatchObject({ device_id: 'gw-h', patients: ['P-A'], revoked: false });
  });

  it('a gateway-signed JWS stores its results; a replay answers duplicate', async () => {
    const body = { gateway: 'gw-h', items: results.slice(0, 2).map((result) => ({ patient: 'P-A', result })) };
    const first = await ingest(body);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ outcomes: [{ patient: 'P-A', seq: 0, outcome: 'stored' }, { patient: 'P-A', seq: 1, outcome: 'stored' }] });
    const again = await ingest(body);
    expect(again.json<{ outcomes: Array<{ outcome: string }> }>().outcomes.map((o) => o.outcome)).toEqual(['duplicate', 'duplicate']);
  });

  it('refuses without a device credential: none, a user access token, a replayed token', async () => {
    const body = { gateway: 'gw-h', items: [{ patient: 'P-A', result: results[2]! }] };
    const none = await f.app.inject({ method: 'POST', url: '/api/v1/ingest/results', payload: body });
    expect(none.statusCode).toBe(401);
    const user = await ingest(body, f.tokens.admin);
    expect(user.statusCode).toBe(401);
    expect(user.headers['content-type']).toMatch(/problem\+json/);
    const t = await signDeviceToken(gw, 'gw-h');
    expect((await ingest(body, t)).statusCode).toBe(200);
    expect((await ingest(body, t)).statusCode).toBe(401);
  });

  it('a body that is not an IngestRequest → 422 naming the field', async () => {
    const bad = await ingest({ gateway: 'gw-h', items: [{ patient: 'P-A', result: { ...results[3]!, v: 1 } }] });
    expect(bad.statusCode).toBe(422);
    expect(bad.json()).toMatchObject({ code: 'HRV_ERR_CONTRACT', field: 'items.0.result.v' });
  });

  it('a patient the device does not serve → 403, nothing stored', async () => {
    const res = await ingest({ gateway: 'gw-h', items: [{ patient: 'P-B', result: results[3]! }] });
    expect(res.statusCode).toBe(403);
  });

  it('over its rate → 429 with Retry-After', async () => {
    let res;
    for (let i = 0; i < 12; i++) {
      res = await ingest({ gateway: 'gw-h', items: [{ patient: 'P-A', result: results[0]! }] });
      if (res.statusCode === 429) break;
    }
    expect(res!.statusCode).toBe(429);
    expect(Number(res!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('DELETE /devices/:id revokes: its tokens are refused', async () => {
    expect((await f.app.inject({ method: 'DELETE', url: '/api/v1/devices/gw-h', headers: bearer(f.tokens.health_worker) })).statusCode).toBe(403);
    const del = await f.app.inject({ method: 'DELETE', url: '/api/v1/devices/gw-h', headers: bearer(f.tokens.admin) });
    expect(del.json()).toMatchObject({ device_id: 'gw-h', revoked: true });
    const res = await ingest({ gateway: 'gw-h', items: [{ patient: 'P-A', result: results[0]! }] });
    expect(res.statusCode).toBe(401);
    expect((await f.app.inject({ method: 'DELETE', url: '/api/v1/devices/gw-none', headers: bearer(f.tokens.admin) })).statusCode).toBe(404);
  });
});
