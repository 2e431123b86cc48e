/**
 * The live stream re-decides access while it is open: a revoked assignment, an expired token or a
 * disabled user ends it within seconds, and no record is sent after that.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { signAccessToken } from '../csp/index.js';
import { hasSharedData } from '../test-support/shared-data.js';
import { buildApi } from './server.js';
import { grantAssignments, makeApiFixture, PASSWORD, type ApiFixture } from './test-support/api-fixture.js';

let f: ApiFixture;
let app: FastifyInstance;
let address: string;

/** Reads the stream until `until` appears or the stream ends; returns the text and how long it took. */
async function readUntil(res: Response, until: string, timeoutMs: number): Promise<{ text: string; ms: number; ended: boolean }> {
  const reader = res.body!.getReader();
  const t0 = Date.now();
  let text = '';
  let ended = false;
  const deadline = setTimeout(() => void reader.cancel(), timeoutMs);
  try {
    while (!text.includes(until)) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        break;
      }
      text += new TextDecoder().decode(value);
    }
  } finally {
    clearTimeout(deadline);
    reader.releaseLock();
  }
  return { text, ms: Date.now() - t0, ended };
}

describe.skipIf(!hasSharedData())('HTTP: the live stream re-decides access', () => {
  beforeAll(async () => {
    f = await makeApiFixture();
    app = await buildApi({ csp: f.h.csp, liveRecheckMs: 250 });
    address = await app.listen({ port: 0, host: '127.0.0.1' });
    // The fixture runs the enclave's analysis on real records: minutes on a loaded machine.
  }, 300_000);
  afterAll(async () => {
    await app?.close();
    await f?.close();
  });

  const live = (token: string) => fetch(`${address}/api/v1/patients/P-A/live`, { headers: { authorization: `Bearer ${token}` } });
  const nurse = async () => f.h.csp.authenticate(f.tokens.health_worker);

  it('delivers records while the caller may see the patient', async () => {
    const res = await live(f.tokens.doctor);
    await readUntil(res, ': connected', 2000);
    await f.h.csp.appendRecord(await nurse(), 'P-A', { type: 'vitals', data: { hr_bpm: 61 } });
    const got = await readUntil(res, '"hr_bpm":61', 3000);
    expect(got.text).toContain('event: record');
    await res.body!.cancel();
  });

  it('an expired token ends the stream within seconds', async () => {
    const doctor = await f.h.csp.authenticate(f.tokens.doctor);
    // A token of the CSP's own key that expires two seconds from now.
    const short = await signAccessToken(f.h.keys.token.privateKey, { sub: f.userIds.doctor, role: 'doctor', sid: String(decodeJwt(f.tokens.doctor).sid) }, Math.floor(Date.now() / 1000) - 598);
    expect(doctor.kind).toBe('user');
    const res = await live(short);
    expect(res.status).toBe(200);
    const got = await readUntil(res, 'event: end', 6000);
    expect(got.text).toMatch(/event: end\ndata: \{"reason":"token expired"\}/);
    expect(got.ms).toBeLessThan(4000);
  });

  it('a revoked assignment ends the stream, and no record is sent after it', async () => {
    const res = await live(f.tokens.doctor);
    await readUntil(res, ': connected', 2000);
    const admin = await f.h.csp.authenticate(f.tokens.admin);
    await f.h.csp.setAssignments(admin, f.userIds.doctor, []);
    const got = await readUntil(res, 'event: end', 5000);
    expect(got.text).toContain('access to this patient was withdrawn');
    expect(got.ms).toBeLessThan(2000);
    await f.h.csp.appendRecord(await nurse(), 'P-A', { type: 'vitals', data: { hr_bpm: 99 } });
    const after = await readUntil(res, 'hr_bpm', 1000);
    expect(after.text).not.toContain('"hr_bpm":99');
    await grantAssignments(f, f.userIds.doctor, ['P-A']);
  });

  it('a record appended right after the revocation is not delivered (checked before each event)', async () => {
    const slow = await buildApi({ csp: f.h.csp, liveRecheckMs: 60_000 });
    const at = await slow.listen({ port: 0, host: '127.0.0.1' });
    try {
      const res = await fetch(`${at}/api/v1/patients/P-A/live`, { headers: { authorization: `Bearer ${f.tokens.doctor}` } });
      await readUntil(res, ': connected', 2000);
      const admin = await f.h.csp.authenticate(f.tokens.admin);
      await f.h.csp.setAssignments(admin, f.userIds.doctor, []);
      await f.h.csp.appendRecord(await nurse(), 'P-A', { type: 'vitals', data: { hr_bpm: 98 } });
      const got = await readUntil(res, 'event: end', 3000);
      expect(got.text).not.toContain('"hr_bpm":98');
      expect(got.text).toContain('withdrawn');
      await grantAssignments(f, f.userIds.doctor, ['P-A']);
    } finally {
      await slow.close();
    }
  });

  it('logging out ends a stream opened with that session\'s access token', async () => {
    const session = await f.h.csp.login('dr.who', PASSWORD);
    const res = await live(session.access_token);
    await readUntil(res, ': connected', 2000);
    const out = await fetch(`${address}/api/v1/auth/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: session.refresh_token }),
    });
    expect(out.status).toBe(204);
    const got = await readUntil(res, 'event: end', 5000);
    expect(got.text).toContain('session ended');
    expect(got.ms).toBeLessThan(2000);
  });

  it('reuse of a spent refresh token ends the streams of that session', async () => {
    const session = await f.h.csp.login('dr.who', PASSWORD);
    const rotated = await f.h.csp.refresh(session.refresh_token);
    const res = await live(rotated.access_token);
    await readUntil(res, ': connected', 2000);
    await expect(f.h.csp.refresh(session.refresh_token)).rejects.toThrow(/reuse/);
    const got = await readUntil(res, 'event: end', 5000);
    expect(got.text).toContain('session ended');
    expect(got.ms).toBeLessThan(2000);
  });

  it('a disabled user is cut off', async () => {
    const res = await live(f.tokens.health_worker);
    await readUntil(res, ': connected', 2000);
    const admin = await f.h.csp.authenticate(f.tokens.admin);
    await f.h.csp.setUserDisabled(admin, f.userIds.health_worker, true);
    const got = await readUntil(res, 'event: end', 5000);
    expect(got.text).toContain('does not match an active user');
    await f.h.csp.setUserDisabled(admin, f.userIds.health_worker, false);
  });
});
