import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { FIXTURE_T0, makeApiFixture, PASSWORD, type ApiFixture } from './test-support/api-fixture.js';
import { RECORD_BODY_LIMIT } from './server.js';
import { ALERT_TYPES, MAX_INGEST_ITEMS } from '../contracts/index.js';

let f: ApiFixture;
beforeAll(async () => {
  f = await makeApiFixture();
});
afterAll(async () => {
  await f?.close();
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('HTTP API: login flow', () => {
  it('login → me → refresh → logout', async () => {
    const login = await f.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'alice', password: PASSWORD } });
    expect(login.statusCode).toBe(200);
    const t = login.json<{ access_token: string; refresh_token: string; expires_in: number }>();
    expect(t.expires_in).toBe(600);
    const me = await f.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(t.access_token) });
    expect(me.json()).toMatchObject({ username: 'alice', role: 'patient', patient_id: 'P-A' });
    expect(me.body).not.toContain('argon2');
    const r = await f.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: t.refresh_token } });
    expect(r.statusCode).toBe(200);
    const t2 = r.json<{ access_token: string; refresh_token: string }>();
    const out = await f.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(t2.access_token), payload: { refresh_token: t2.refresh_token } });
    expect(out.statusCode).toBe(204);
    const again = await f.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: t2.refresh_token } });
    expect(again.statusCode).toBe(401);
  });

  it('a doctor sees the HRV the enclave stored and the aggregate of own patients', async () => {
    const recs = await f.app.inject({ method: 'GET', url: '/api/v1/patients/P-A/records?type=hrv', headers: bearer(f.tokens.doctor) });
    expect(recs.statusCode).toBe(200);
    const stored = f.results['P-A'];
    expect(recs.json<{ records: Array<{ data: { measures: { sdnn_ms: number } } }> }>().records.map((r) => r.data.measures.sdnn_ms)).toEqual(
      stored.map((r) => r.window.measures!.sdnn_ms),
    );
    const agg = await f.app.inject({ method: 'GET', url: `/api/v1/aggregates?metric=mean_hr_bpm&from=${FIXTURE_T0}&to=2026-01-02T00:00:00Z`, headers: bearer(f.tokens.doctor) });
    const hr = stored.map((r) => r.window.measures!.mean_hr_bpm!);
    expect(agg.json()).toMatchObject({ metric: 'mean_hr_bpm', n: hr.length, patients: 1 });
    expect(agg.json<{ mean: number }>().mean).toBeCloseTo(hr.reduce((a, b) => a + b, 0) / hr.length, 3);
  });

  it('serves an OpenAPI document listing the routes', async () => {
    const doc = (await f.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json<{ openapi: string; paths: Record<string, unknown> }>();
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of ['/api/v1/auth/login', '/api/v1/auth/refresh', '/api/v1/auth/logout', '/api/v1/me', '/api/v1/patients', '/api/v1/patients/{id}/records', '/api/v1/patients/{id}/prescriptions', '/api/v1/patients/{id}/aggregates']) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
  });
});

describe('HTTP API: the OpenAPI document carries the contracts', () => {
  type Doc = { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, { enum?: string[]; maxItems?: number }>; required?: string[] } }> } }>> };
  const body = (doc: Doc, path: string, method: string) => doc.paths[path]![method]!.requestBody!.content['application/json']!.schema;

  it('documents the ingest request and the alert acknowledgement as their zod contracts declare them', async () => {
    const doc = (await f.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json<Doc>();
    const ingest = body(doc, '/api/v1/ingest/results', 'post');
    expect(ingest.required).toEqual(expect.arrayContaining(['gateway', 'items']));
    expect(ingest.properties!.items!.maxItems).toBe(MAX_INGEST_ITEMS);
    expect(body(doc, '/api/v1/patients/{id}/alerts/ack', 'post').properties!.alert_type!.enum).toEqual([...ALERT_TYPES]);
  });
});

describe('HTTP API: bad input', () => {
  const post = (url: string, payload: string | object, headers: Record<string, string> = {}) =>
    f.app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json', ...headers } });

  it('malformed JSON → 400 problem+json', async () => {
    const res = await post('/api/v1/auth/login', '{"username": "alice", ');
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    expect(res.json()).toMatchObject({ status: 400, title: 'Bad Request' });
  });

  it('wrong types and unknown fields → 400 naming the field', async () => {
    const wrong = await post('/api/v1/auth/login', { username: 'alice', password: 12 });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json<{ field: string }>().field).toContain('password');
    const unknown = await post('/api/v1/auth/login', { username: 'alice', password: PASSWORD, admin: true });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json<{ detail: string }>().detail).toContain('admin');
    const missing = await post('/api/v1/patients/P-A/records', { type: 'vitals' }, bearer(f.tokens.health_worker));
    expect(missing.json<{ field: string }>().field).toContain('data');
    const badId = await f.app.inject({ method: 'GET', url: '/api/v1/patients/..%2Fetc/records', headers: bearer(f.tokens.doctor) });
    expect(badId.statusCode).toBe(400);
    const badTime = await f.app.inject({ method: 'GET', url: '/api/v1/patients/P-A/records?from=yesterday', headers: bearer(f.tokens.doctor) });
    expect(badTime.statusCode).toBe(400);
    expect(badTime.json<{ field: string }>().field).toBe('from');
  });

  it('oversized bodies → 413', async () => {
    const res = await post('/api/v1/patients/P-A/records', { type: 'rr_file', data: { text: 'x'.repeat(RECORD_BODY_LIMIT) } }, bearer(f.tokens.health_worker));
    expect(res.statusCode).toBe(413);
    const login = await post('/api/v1/auth/login', { username: 'alice', password: 'x'.repeat(70_000) });
    expect(login.statusCode).toBe(413);
    const rrFile = await post('/api/v1/patients/P-A/records', { type: 'rr_file', data: { filename: 'day.csv', text: '800\n'.repeat(150_000) } }, bearer(f.tokens.health_worker));
    expect(rrFile.statusCode).toBe(201);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
  });

  it('SQL and prototype-pollution payloads are harmless', async () => {
    const sql = await post('/api/v1/auth/login', { username: "alice' OR '1'='1", password: "' OR 1=1; DROP TABLE sp_users; --" });
    expect(sql.statusCode).toBe(401);
    const proto = await post('/api/v1/patients/P-A/records', '{"type":"note","data":{"__proto__":{"isAdmin":true}}}', bearer(f.tokens.health_worker));
    expect(proto.statusCode).toBe(400);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    const stillThere = await f.h.spDb.query('SELECT count(*) AS n FROM sp_users');
    expect(Number((stillThere[0] as { n: number }).n)).toBeGreaterThan(0);
  });

  it('tokens: alg none, another algorithm, wrong audience or type, expired, another key → 401', async () => {
    const key = generateKeyPairSync('ed25519').privateKey;
    const sub = f.userIds.admin;
    const base = (alg = 'EdDSA', typ = 'at+jwt') =>
      new SignJWT({ role: 'admin' }).setProtectedHeader({ alg, typ }).setSubject(sub).setIssuer('hrvault-csp').setIssuedAt();
    const none = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub, role: 'admin', iss: 'hrvault-csp', aud: 'hrvault-api', exp: 9e9, iat: 1 })).toString('base64url')}.`;
    const hs = await base('HS256').setAudience('hrvault-api').setExpirationTime('5m').sign(new TextEncoder().encode('k'.repeat(32)));
    const otherKey = await base().setAudience('hrvault-api').setExpirationTime('5m').sign(key);
    // A real token's payload with a changed audience keeps the real signature, which then fails.
    const [h, p, s] = f.tokens.admin.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const wrongAud = `${h}.${Buffer.from(JSON.stringify({ ...payload, aud: 'other' })).toString('base64url')}.${s}`;
    for (const token of [none, hs, otherKey, wrongAud, 'not.a.token']) {
      const res = await f.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(token) });
      expect(res.statusCode, token.slice(0, 20)).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
  });

  it('a role escalation attempt → 403 and an audit entry', async () => {
    const res = await post('/api/v1/users', { username: 'evil', password: PASSWORD, role: 'admin' }, bearer(f.tokens.patient));
    expect(res.statusCode).toBe(403);
    const entries = await f.h.csp.audit.entries(1, 10_000);
    expect(entries.some((e) => e.action === 'user.register' && e.outcome === 'denied' && e.actor === f.userIds.patient)).toBe(true);
  });

  it('a patient the caller may not see is 404 whether or not it exists', async () => {
    const exists = await f.app.inject({ method: 'GET', url: '/api/v1/patients/P-B/records', headers: bearer(f.tokens.patient) });
    const missing = await f.app.inject({ method: 'GET', url: '/api/v1/patients/P-ZZZ/records', headers: bearer(f.tokens.patient) });
    expect(exists.statusCode).toBe(404);
    expect(missing.statusCode).toBe(404);
    expect(exists.json<{ detail: string }>().detail).toBe(missing.json<{ detail: string }>().detail);
  });
});

describe('HTTP API: live updates', () => {
  it('streams a new record of a visible patient as a server-sent event', async () => {
    const address = await f.app.listen({ port: 0, host: '127.0.0.1' });
    const ac = new AbortController();
    const res = await fetch(`${address}/api/v1/patients/P-A/live`, { headers: bearer(f.tokens.doctor), signal: ac.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    await reader.read(); // ": connected"
    await f.h.csp.appendRecord(await f.h.csp.authenticate(f.tokens.health_worker), 'P-A', { type: 'vitals', data: { hr_bpm: 47 } });
    let text = '';
    while (!text.includes('event: record')) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toContain('"hr_bpm":47');
    ac.abort();
    const denied = await fetch(`${address}/api/v1/patients/P-B/live`, { headers: bearer(f.tokens.doctor) });
    expect(denied.status).toBe(404);
  });
});

describe('HTTP API: refresh token in an HttpOnly cookie', () => {
  const cookieOf = (setCookie: string | string[] | undefined): string => {
    const c = Array.isArray(setCookie) ? setCookie[0]! : setCookie!;
    return c;
  };

  it('login sets hrvault_refresh (HttpOnly, SameSite=Strict, Path=/api/v1/auth; Secure only over https)', async () => {
    const login = await f.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'alice', password: PASSWORD } });
    const c = cookieOf(login.headers['set-cookie']);
    const token = login.json<{ refresh_token: string }>().refresh_token;
    expect(c).toMatch(new RegExp(`^hrvault_refresh=${token}; `));
    expect(c).toContain('HttpOnly');
    expect(c).toContain('SameSite=Strict');
    expect(c).toContain('Path=/api/v1/auth');
    expect(c).not.toContain('Secure');
    const https = await f.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'alice', password: PASSWORD }, headers: { 'x-forwarded-proto': 'https' } });
    // Behind no trusted proxy the forwarded header is ignored: only a real TLS connection makes it Secure.
    expect(cookieOf(https.headers['set-cookie'])).not.toContain('Secure');
  });

  it('refresh and logout take the token from the cookie when the body has none; a rotated cookie replaces it', async () => {
    const login = await f.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'alice', password: PASSWORD } });
    const first = login.json<{ refresh_token: string }>().refresh_token;
    const r = await f.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: { cookie: `other=1; hrvault_refresh=${first}` } });
    expect(r.statusCode, r.body).toBe(200);
    const second = r.json<{ refresh_token: string; access_token: string }>();
    expect(cookieOf(r.headers['set-cookie'])).toContain(`hrvault_refresh=${second.refresh_token};`);
    const out = await f.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { authorization: `Bearer ${second.access_token}`, cookie: `hrvault_refresh=${second.refresh_token}` } });
    expect(out.statusCode).toBe(204);
    expect(cookieOf(out.headers['set-cookie'])).toMatch(/^hrvault_refresh=; .*Max-Age=0/);
    const again = await f.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: { cookie: `hrvault_refresh=${second.refresh_token}` } });
    expect(again.statusCode).toBe(401);
  });

  it('no token in body or cookie → 401; a malformed cookie is ignored', async () => {
    expect((await f.app.inject({ method: 'POST', url: '/api/v1/auth/refresh' })).statusCode).toBe(401);
    expect((await f.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: { cookie: 'hrvault_refresh=<script>' } })).statusCode).toBe(401);
  });
});
