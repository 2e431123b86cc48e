/**
 * The endpoints the dashboard is built against: the patient list with summaries, paged records with
 * author names, alert acknowledgement, user administration and the audit search. HRV data is real
 * pipeline output (record 100; a synthetic patient whose rhythm turns irregular), stored by a gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HrvResult } from '../contracts/index.js';
import { seedResults } from '../test-support/access/seed.js';
import { hasSharedData } from '../test-support/shared-data.js';
import { FIXTURE_T0, makeApiFixture, PASSWORD, type ApiFixture } from './test-support/api-fixture.js';
import { approveGrant, enrol, injectCall } from './test-support/grants.js';

let f: ApiFixture;
let irregular: HrvResult[];
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
type Item = { patient_id: string; display_name: string; latest: { t_ms: number; mean_hr_bpm: number; sdnn_ms: number; rmssd_ms: number } | null; last_data_ms: number | null; open_alerts: number };

describe.skipIf(!hasSharedData())('HTTP: dashboard support endpoints', () => {
  beforeAll(async () => {
    f = await makeApiFixture();
    irregular = await seedResults(f.h.csp, 'P-A', { source: 'synthetic', syntheticPatient: 9, startMs: FIXTURE_T0 + 3_600_000, durationS: 300 });
  });
  afterAll(async () => {
    await f?.close();
  });

  const get = (url: string, token: string) => f.app.inject({ method: 'GET', url, headers: bearer(token) });
  const list = async (query: string, token = f.tokens.doctor) => {
    const res = await get(`/api/v1/patients${query}`, token);
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ total: number; items: Item[] }>();
  };

  it('the patient list shows the latest window, the newest data and the open alerts', async () => {
    const { total, items } = await list('');
    expect(total).toBe(1);
    const last = irregular.filter((r) => r.window.measures !== null).at(-1)!;
    expect(items[0]).toEqual({
      patient_id: 'P-A',
      display_name: 'alice',
      latest: { t_ms: last.t_end_ms, mean_hr_bpm: last.window.measures!.mean_hr_bpm, sdnn_ms: last.window.measures!.sdnn_ms, rmssd_ms: last.window.measures!.rmssd_ms },
      last_data_ms: irregular.at(-1)!.t_end_ms,
      open_alerts: irregular.flatMap((r) => r.alerts).length,
    });
    expect(items[0]!.open_alerts).toBeGreaterThan(0);
  });

  it('an admin sees the directory without clinical values', async () => {
    const { total, items } = await list('?sort=name&order=desc', f.tokens.admin);
    expect(total).toBe(2);
    expect(items.map((i) => i.patient_id)).toEqual(['P-B', 'P-A']);
    expect(items.every((i) => i.latest === null && i.last_data_ms === null && i.open_alerts === 0)).toBe(true);
    expect((await list('?q=ALI', f.tokens.admin)).items.map((i) => i.patient_id)).toEqual(['P-A']);
    expect((await list('?offset=1&limit=1', f.tokens.admin)).items.map((i) => i.patient_id)).toEqual(['P-B']);
  });

  it('assignments refuse unknown patient ids (422 naming them); then sorting by a measure orders by the latest value', async () => {
    const bad = await f.app.inject({ method: 'PUT', url: `/api/v1/users/${f.userIds.doctor}/assignments`, payload: { patients: ['P-A', 'P-NOPE', 'P-GONE'] }, headers: bearer(f.tokens.admin) });
    expect(bad.statusCode).toBe(422);
    expect(bad.json()).toMatchObject({ code: 'HRV_ERR_UNKNOWN_REFERENCE', field: 'patients', detail: expect.stringContaining('P-NOPE, P-GONE') });
    // Adding P-B is a grant: pending (202) until the second admin approves it.
    const ok = await f.app.inject({ method: 'PUT', url: `/api/v1/users/${f.userIds.doctor}/assignments`, payload: { patients: ['P-A', 'P-B'] }, headers: bearer(f.tokens.admin) });
    expect(ok.statusCode).toBe(202);
    await approveGrant(injectCall(f.app), f.approver, ok.json<{ grant: { grant_id: string } }>().grant.grant_id);
    for (const sort of ['sdnn', 'hr', 'rmssd', 'last_data', 'alerts'] as const) {
      const asc = (await list(`?sort=${sort}&order=asc`)).items;
      const desc = (await list(`?sort=${sort}&order=desc`)).items;
      expect(asc).toHaveLength(2);
      const value = (i: Item) =>
        ({ sdnn: i.latest?.sdnn_ms, hr: i.latest?.mean_hr_bpm, rmssd: i.latest?.rmssd_ms, last_data: i.last_data_ms, alerts: i.open_alerts })[sort]!;
      expect(value(asc[0]!)).toBeLessThanOrEqual(value(asc[1]!));
      expect(value(desc[0]!)).toBeGreaterThanOrEqual(value(desc[1]!));
    }
    expect((await get('/api/v1/patients?sort=age', f.tokens.doctor)).statusCode).toBe(400);
  });

  it('records are paged in time order with their total and the author’s name', async () => {
    const all = await get('/api/v1/patients/P-A/records?type=hrv', f.tokens.doctor);
    const total = all.json<{ total: number }>().total;
    expect(total).toBe(f.results['P-A'].length + irregular.length);
    const page = (await get('/api/v1/patients/P-A/records?type=hrv&order=desc&offset=1&limit=2', f.tokens.doctor)).json<{
      total: number;
      items: Array<{ t_ms: number; author: string; author_name: string }>;
    }>();
    expect(page.total).toBe(total);
    expect(page.items.map((r) => r.t_ms)).toEqual([irregular.at(-2)!.t_end_ms, irregular.at(-3)!.t_end_ms]);
    expect(page.items[0]!.author_name).toMatch(/^gateway gw-seed-/);
    const nurse = await f.app.inject({ method: 'POST', url: '/api/v1/patients/P-A/records', payload: { type: 'note', data: { text: 'seen' } }, headers: bearer(f.tokens.health_worker) });
    expect(nurse.json()).toMatchObject({ author: f.userIds.health_worker });
    const notes = (await get('/api/v1/patients/P-A/records?type=note', f.tokens.doctor)).json<{ items: Array<{ author_name: string }> }>();
    expect(notes.items[0]!.author_name).toBe('nurse');
  });

  it('a doctor acknowledges an alert onset: an alert_ack record, and the onset is no longer open', async () => {
    const hrv = (await get(`/api/v1/patients/P-A/records?type=hrv&from=${FIXTURE_T0 + 3_600_000}&limit=1000`, f.tokens.doctor)).json<{
      items: Array<{ id: string; data: { alerts: Array<{ type: string; onset_ms: number }> } }>;
    }>().items;
    const withAlert = hrv.find((r) => r.data.alerts.length > 0)!;
    const onset = withAlert.data.alerts[0]!;
    const body = { hrv_record: withAlert.id, alert_type: onset.type, onset_ms: onset.onset_ms, comment: 'reviewed, known AF' };
    const url = '/api/v1/patients/P-A/alerts/ack';
    for (const who of ['health_worker', 'patient'] as const) {
      expect((await f.app.inject({ method: 'POST', url, payload: body, headers: bearer(f.tokens[who]) })).statusCode).toBe(403);
    }
    const unknown = await f.app.inject({ method: 'POST', url, payload: { ...body, onset_ms: onset.onset_ms + 1 }, headers: bearer(f.tokens.doctor) });
    expect(unknown.statusCode).toBe(422);
    const before = (await list('')).items.find((i) => i.patient_id === 'P-A')!.open_alerts;
    const ack = await f.app.inject({ method: 'POST', url, payload: body, headers: bearer(f.tokens.doctor) });
    expect(ack.statusCode, ack.body).toBe(201);
    expect(ack.json()).toMatchObject({ type: 'alert_ack', author_name: 'dr.who', data: body });
    expect((await list('')).items.find((i) => i.patient_id === 'P-A')!.open_alerts).toBe(before - 1);
  });

  it('an admin disables a user (their token stops working for good: its session is revoked) and re-enables them (a new login works)', async () => {
    const url = `/api/v1/users/${f.userIds.health_worker}/disable`;
    expect((await f.app.inject({ method: 'POST', url, payload: { disabled: true }, headers: bearer(f.tokens.doctor) })).statusCode).toBe(403);
    const off = await f.app.inject({ method: 'POST', url, payload: { disabled: true }, headers: bearer(f.tokens.admin) });
    expect(off.json()).toMatchObject({ disabled: true });
    expect((await get('/api/v1/me', f.tokens.health_worker)).statusCode).toBe(401);
    const login = await f.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'nurse', password: PASSWORD } });
    expect(login.statusCode).toBe(401);
    await f.app.inject({ method: 'POST', url, payload: { disabled: false }, headers: bearer(f.tokens.admin) });
    // Disabling ended every session of the account: the old token stays refused, the user signs in again.
    expect((await get('/api/v1/me', f.tokens.health_worker)).statusCode).toBe(401);
    const again = await f.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'nurse', password: PASSWORD } });
    expect(again.statusCode, again.body).toBe(200);
    const fresh = (again.json() as { access_token: string }).access_token;
    expect((await get('/api/v1/me', fresh)).statusCode).toBe(200);
    f.tokens.health_worker = fresh;
  });

  it('an admin resets a password: the old one and the old refresh tokens stop working at once; the user enrols again with both admins\' code parts', async () => {
    const before = (await f.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'bob', password: PASSWORD } })).json<{ refresh_token: string }>();
    const users = (await get('/api/v1/users', f.tokens.admin)).json<{ users: Array<{ user_id: string; username: string }> }>().users;
    const bob = users.find((u) => u.username === 'bob')!.user_id;
    const url = `/api/v1/users/${bob}/password`;
    expect((await f.app.inject({ method: 'POST', url, payload: { password: 'a brand new passphrase' }, headers: bearer(f.tokens.patient) })).statusCode).toBe(403);
    expect((await f.app.inject({ method: 'POST', url, payload: { password: 'short' }, headers: bearer(f.tokens.admin) })).statusCode).toBe(400);
    const reset = await f.app.inject({ method: 'POST', url, payload: { password: 'a brand new passphrase' }, headers: bearer(f.tokens.admin) });
    expect(reset.statusCode).toBe(202);
    expect((await f.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'bob', password: PASSWORD } })).statusCode).toBe(401);
    expect((await f.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: before.refresh_token } })).statusCode).toBe(401);
    // The admin's part is no password: it logs nobody in.
    expect((await f.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'bob', password: 'a brand new passphrase' } })).statusCode).toBe(401);
    const call = injectCall(f.app);
    const approverPart = await approveGrant(call, f.approver, reset.json<{ grant: { grant_id: string } }>().grant.grant_id);
    await enrol(call, 'bob', ['a brand new passphrase', approverPart!], 'bob chose this passphrase');
    expect((await f.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'bob', password: 'bob chose this passphrase' } })).statusCode).toBe(200);
  });

  it('the audit search filters, pages and reports the chain’s verification (admin only)', async () => {
    expect((await get('/api/v1/audit', f.tokens.doctor)).statusCode).toBe(403);
    const res = await get('/api/v1/audit?action=user.&outcome=denied&limit=5', f.tokens.admin);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<{ total: number; items: Array<{ seq: number; action: string; outcome: string }>; verification: { ok: boolean } }>();
    expect(body.total).toBeGreaterThanOrEqual(2);
    expect(body.items.every((e) => e.action.startsWith('user.') && e.outcome === 'denied')).toBe(true);
    expect(body.items.map((e) => e.seq)).toEqual([...body.items.map((e) => e.seq)].sort((a, b) => b - a));
    expect(body.verification.ok).toBe(true);
    const byActor = (await get(`/api/v1/audit?actor=${f.userIds.doctor}&q=alert_ack`, f.tokens.admin)).json<{ items: Array<{ actor: string }> }>();
    expect(byActor.items.length).toBeGreaterThan(0);
    expect(byActor.items.every((e) => e.actor === f.userIds.doctor)).toBe(true);
    expect((await get('/api/v1/audit?q=%25', f.tokens.admin)).json<{ total: number }>().total).toBe(0);
  });
});
