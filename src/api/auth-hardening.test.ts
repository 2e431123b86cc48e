/**
 * The HTTP edge's hardening: authentication before body parsing and validation, sessions whose access
 * tokens die with them, bounded JSON nesting, security headers, and client addresses from a reverse proxy
 * only when told to trust it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApi } from './server.js';
import { makeApiFixture, PASSWORD, type ApiFixture } from './test-support/api-fixture.js';

let f: ApiFixture;
beforeAll(async () => {
  f = await makeApiFixture();
  // The fixture runs the enclave's analysis on real records: minutes on a loaded machine.
}, 300_000);
afterAll(async () => {
  await f?.close();
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const json = { 'content-type': 'application/json' };
const deep = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);

describe('HTTP: security headers', () => {
  it('every API answer (tokens, clinical data, errors) carries no-store, nosniff and a CSP with frame-ancestors none', async () => {
    const answers = [
      await f.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'alice', password: PASSWORD } }),
      await f.app.inject({ method: 'GET', url: '/api/v1/patients/P-A/records', headers: bearer(f.tokens.doctor) }),
      await f.app.inject({ method: 'GET', url: '/api/v1/patients/P-A/records' }),
      await f.app.inject({ method: 'GET', url: '/api/v1/no-such-route' }),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 401, 404]);
    for (const a of answers) {
      expect(a.headers['cache-control']).toBe('no-store');
      expect(a.headers['x-content-type-options']).toBe('nosniff');
      expect(a.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    }
  });

  it("the dashboard's page carries a CSP (own origin only, frame-ancestors none) and nosniff", async () => {
    const root = await mkdtemp(join(tmpdir(), 'hrvault-web-'));
    await writeFile(join(root, 'index.html'), '<!doctype html><title>t</title>');
    const web = await buildApi({ csp: f.h.csp, webRoot: root });
    try {
      const page = await web.inject({ method: 'GET', url: '/' });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-security-policy']).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
      expect(page.headers['x-content-type-options']).toBe('nosniff');
    } finally {
      await web.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('HTTP: deeply nested JSON', () => {
  it('a body nested 10,000 levels deep is a 400 with code HRV_ERR_JSON_DEPTH, never a 500', async () => {
    for (const [url, payload] of [
      ['/api/v1/auth/login', `{"username":${deep(10_000)},"password":"x"}`],
      ['/api/v1/patients/P-A/records', `{"type":"note","data":${deep(10_000)}}`],
    ] as const) {
      const res = await f.app.inject({ method: 'POST', url, payload, headers: { ...json, ...bearer(f.tokens.doctor) } });
      expect(res.statusCode, url).toBe(400);
      expect(res.json()).toMatchObject({ code: 'HRV_ERR_JSON_DEPTH', status: 400 });
    }
  });
});

describe('HTTP: authentication runs before the body is read', () => {
  it('a request with a bad body and no token is refused 401, not 400', async () => {
    for (const [url, payload] of [
      ['/api/v1/patients/P-A/records', '{"type":"nonsense","extra":1}'],
      ['/api/v1/patients/P-A/records', '{"broken json'],
      ['/api/v1/patients/P-A/records', deep(10_000)],
      ['/api/v1/ingest/results', '{"items":"not a list"}'],
      ['/api/v1/users', '{"username":1}'],
    ] as const) {
      const res = await f.app.inject({ method: 'POST', url, payload, headers: json });
      expect(res.statusCode, `${url} ${payload.slice(0, 20)}`).toBe(401);
      expect(res.json()).toMatchObject({ code: expect.stringMatching(/^HRV_ERR_(AUTH|DEVICE)$/) });
    }
  });
});

describe('HTTP: access tokens die with their session', () => {
  const login = async () => {
    const res = await f.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'dr.who', password: PASSWORD } });
    expect(res.statusCode).toBe(200);
    return res.json<{ access_token: string; refresh_token: string }>();
  };
  const me = async (token: string) => (await f.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(token) })).statusCode;

  it('after logout the access token is refused at once; another session of the same user still works', async () => {
    const a = await login();
    const b = await login();
    expect(await me(a.access_token)).toBe(200);
    const out = await f.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(a.access_token), payload: { refresh_token: a.refresh_token } });
    expect(out.statusCode).toBe(204);
    expect(await me(a.access_token)).toBe(401);
    expect(await me(b.access_token)).toBe(200);
  });

  it('refresh-token reuse refuses every access token of that session at once', async () => {
    const s = await login();
    const r = await f.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: s.refresh_token } });
    const rotated = r.json<{ access_token: string }>();
    expect(await me(rotated.access_token)).toBe(200);
    const reuse = await f.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: s.refresh_token } });
    expect(reuse.statusCode).toBe(401);
    expect(await me(s.access_token)).toBe(401);
    expect(await me(rotated.access_token)).toBe(401);
  });
});

describe('HTTP: client addresses behind a reverse proxy', () => {
  const attempt = (app: FastifyInstance, username: string, password: string, forwardedFor: string) =>
    app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password }, headers: { 'x-forwarded-for': forwardedFor } });

  it('with trustProxy, X-Forwarded-For separates addresses: an attacker locking itself out does not lock out the user', async () => {
    const proxied = await buildApi({ csp: f.h.csp, trustProxy: true });
    try {
      for (let i = 0; i < 5; i++) expect((await attempt(proxied, 'bob', 'wrong password!!', '203.0.113.66')).statusCode).toBe(401);
      expect((await attempt(proxied, 'bob', PASSWORD, '203.0.113.66')).statusCode).toBe(429);
      // Only the proxy's own entry counts: one the client put in front of it cannot pick a fresh counter.
      expect((await attempt(proxied, 'bob', PASSWORD, '192.0.2.200, 203.0.113.66')).statusCode).toBe(429);
      expect((await attempt(proxied, 'bob', PASSWORD, '198.51.100.20')).statusCode).toBe(200);
    } finally {
      await proxied.close();
    }
  });

  it('without trustProxy, X-Forwarded-For is the caller\'s own claim and changes nothing: one address, one counter', async () => {
    for (let i = 0; i < 5; i++) expect((await attempt(f.app, 'nurse', 'wrong password!!', '203.0.113.77')).statusCode).toBe(401);
    const other = await attempt(f.app, 'nurse', PASSWORD, '198.51.100.21');
    expect(other.statusCode).toBe(429);
    expect(other.headers['retry-after']).toMatch(/^\d+$/);
  });
});
