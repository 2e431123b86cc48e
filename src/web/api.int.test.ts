/** ApiClient against the real access stack (a CSP with its SP, Paillier keys, sealed records). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAccessStack, type AccessStack } from '../api/index.js';
import { buildApi } from '../api/index.js';
import { createDemoUsers, type DemoCredential } from '../csp/index.js';
import { ApiClient, ApiError } from './api.js';
import { seedResults } from '../test-support/access/seed.js';
import type { HrvResult } from '../contracts/index.js';
import type { ApiRecord as ClinicalRecord } from './model.js';

let stack: AccessStack;
let creds: DemoCredential[];
let seeded: HrvResult[];
const cred = (u: string) => creds.find((c) => c.username === u)!;

beforeAll(async () => {
  stack = await startAccessStack({ port: 0, paillierBits: 1024 });
  creds = await createDemoUsers(stack.csp, ['P-001', 'P-002']);
  seeded = await seedResults(stack.csp, 'P-001', { source: '100', durationS: 10, startMs: Date.now() - 60_000 });
}, 180_000);
afterAll(async () => {
  await stack?.close();
});

describe('ApiClient against the real API', () => {
  it('an expired access token is refreshed once, with rotation, even under concurrent requests', async () => {
    let clock = Date.now();
    const c = new ApiClient({ base: stack.address, now: () => clock });
    await c.login('doctor1', cred('doctor1').password);
    const first = c.refreshToken;
    expect((await c.patients()).items.map((p) => p.patient_id)).toEqual(['P-001']);
    clock += 11 * 60_000; // past the 600 s access-token lifetime
    const [a, b] = await Promise.all([c.me(), c.records('P-001', { type: 'hrv' })]);
    expect(a.username).toBe('doctor1');
    expect((b.items[0]!.data.measures as { sdnn_ms: number | null }).sdnn_ms).toBe(seeded[0]!.window.measures?.sdnn_ms ?? null);
    expect(c.refreshToken).not.toBe(first);
    // The rotated-out refresh token is dead.
    const replay = await fetch(`${stack.address}/api/v1/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: first }),
    });
    expect(replay.status).toBe(401);
  });

  it('trends(): the server’s buckets over the seeded windows, checked against the contract', async () => {
    const c = new ApiClient({ base: stack.address });
    await c.login('doctor1', cred('doctor1').password);
    const all = await c.allRecords('P-001', { type: 'hrv' });
    const times = all.items.map((r) => r.t_ms);
    const t = await c.trends('P-001', { from_ms: Math.min(...times), to_ms: Math.max(...times) + 1, buckets: 4 });
    expect(t.windows).toBe(all.total);
    expect(t.buckets).toHaveLength(4);
    expect(t.buckets.reduce((a, b) => a + b.windows, 0)).toBe(all.total);
    const sdnn = seeded.map((r) => r.window.measures?.sdnn_ms).filter((v): v is number => typeof v === 'number');
    expect(Math.min(...t.buckets.filter((b) => b.sdnn_ms.n > 0).map((b) => b.sdnn_ms.min!))).toBeCloseTo(Math.min(...sdnn), 6);
  });

  it('problems arrive as ApiError with the server’s detail; logout ends the session', async () => {
    let ended = '';
    const c = new ApiClient({ base: stack.address, onSessionEnd: (r) => (ended = r) });
    await expect(c.login('doctor1', 'wrong-password-123')).rejects.toBeInstanceOf(ApiError);
    await c.login('patient-p-001', cred('patient-p-001').password);
    const err = await c.records('P-002').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(404);
    expect((err as ApiError).detail).toBe('no such patient');
    const rx = await c.prescribe('P-001', { text: 'self-prescribed' }).catch((e: unknown) => e);
    expect((rx as ApiError).status).toBe(403);
    await c.logout();
    expect(ended).toBe('Logged out.');
    expect(c.loggedIn).toBe(false);
  });

  it('live(): a record written after subscribing arrives through the bearer-authenticated stream', async () => {
    const c = new ApiClient({ base: stack.address });
    await c.login('doctor1', cred('doctor1').password);
    const ac = new AbortController();
    const got: ClinicalRecord[] = [];
    let live: HrvResult[] = [];
    const arrived = new Promise<void>((resolve, reject) => {
      c.live(
        'P-001',
        (r) => {
          got.push(r);
          resolve();
        },
        ac.signal,
        () => void seedResults(stack.csp, 'P-001', { source: '100', durationS: 10, startMs: Date.now() }).then((r) => (live = r), reject),
      ).catch((e: unknown) => (ac.signal.aborted ? undefined : reject(e)));
    });
    await arrived;
    expect(['hrv', 'rr_batch']).toContain(got[0]!.type);
    await expect.poll(() => got.length >= 2 && live.length > 0).toBe(true);
    ac.abort();
    const hrv = got.find((r) => r.type === 'hrv')!;
    expect((hrv.data.measures as { rmssd_ms: number | null } | null)?.rmssd_ms ?? null).toBe(live[0]!.window.measures?.rmssd_ms ?? null);
    await expect(c.live('P-002', () => undefined, new AbortController().signal)).rejects.toMatchObject({
      status: 404,
    });
  });
});

describe('serving the built dashboard (webRoot)', () => {
  it('serves index.html at / and its assets, while unknown paths stay problem+json 404s', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hrvault-webroot-'));
    try {
      await writeFile(join(dir, 'index.html'), '<!doctype html><title>hrvault dashboard</title>');
      await writeFile(join(dir, 'app.js'), 'console.log(1)');
      const app = await buildApi({ csp: stack.csp, webRoot: dir });
      const index = await app.inject({ method: 'GET', url: '/' });
      expect(index.statusCode).toBe(200);
      expect(index.headers['content-type']).toMatch(/text\/html/);
      expect(index.body).toContain('hrvault dashboard');
      expect((await app.inject({ method: 'GET', url: '/app.js' })).headers['content-type']).toMatch(
        /javascript/,
      );
      const missing = await app.inject({ method: 'GET', url: '/nope.js' });
      expect(missing.statusCode).toBe(404);
      expect(missing.headers['content-type']).toMatch(/problem\+json/);
      const traversal = await app.inject({ method: 'GET', url: '/..%2f..%2fetc%2fpasswd' });
      expect(traversal.statusCode).toBe(404);
      const doc = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json<{
        paths: Record<string, unknown>;
      }>();
      expect(Object.keys(doc.paths).filter((p) => !p.startsWith('/api/'))).toEqual([]);
      await app.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
