import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { exportPaillierPrivateKey } from '../crypto/index.js';
import { AuthError, ForbiddenError, NotFoundError, ThrottledError, ValidationError } from './errors.js';
import { makeHarness, type Harness } from '../test-support/access/harness.js';
import { seedResults } from '../test-support/access/seed.js';
import type { Principal } from './policy.js';

let h: Harness;
let admin: Principal;
let doctor: Principal;
let nurse: Principal;
let patientA: Principal;
const PW = 'correct horse battery staple';

beforeAll(async () => {
  h = await makeHarness('memory:');
  const csp = h.csp;
  await csp.registerUser('bootstrap', { username: 'admin', password: PW, role: 'admin' });
  await csp.registerUser('bootstrap', { username: 'alice', password: PW, role: 'patient', patient_id: 'P-A', display_name: 'Alice Example' });
  await csp.registerUser('bootstrap', { username: 'bob', password: PW, role: 'patient', patient_id: 'P-B', display_name: 'Bob Example' });
  await csp.registerUser('bootstrap', { username: 'dr.house', password: PW, role: 'doctor', patients: ['P-A'] });
  await csp.registerUser('bootstrap', { username: 'nurse', password: PW, role: 'health_worker', patients: ['P-A'] });
  const who = async (u: string) => csp.authenticate((await csp.login(u, PW)).access_token);
  admin = await who('admin');
  doctor = await who('dr.house');
  nurse = await who('nurse');
  patientA = await who('alice');
});

afterAll(async () => {
  await h?.close();
});

describe('Protocol I, Phases II–III: registration and authentication', () => {
  it('logs in with the right password and refuses a wrong one without saying which part was wrong', async () => {
    const t = await h.csp.login('alice', PW);
    expect(t.expires_in).toBeGreaterThan(0);
    const me = h.csp.me(await h.csp.authenticate(t.access_token));
    expect(me).toMatchObject({ username: 'alice', role: 'patient', patient_id: 'P-A' });
    expect(me).not.toHaveProperty('verifier');
    await expect(h.csp.login('alice', 'wrong password!!')).rejects.toThrow('invalid username or password');
    await expect(h.csp.login('nobody', PW)).rejects.toThrow('invalid username or password');
  });

  it('only an admin registers users; weak passwords and duplicate names are refused', async () => {
    await expect(h.csp.registerUser(doctor, { username: 'mallory', password: PW, role: 'admin' })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(h.csp.registerUser(admin, { username: 'carol', password: 'short', role: 'doctor' })).rejects.toBeInstanceOf(ValidationError);
    await expect(h.csp.registerUser(admin, { username: 'alice', password: PW, role: 'doctor' })).rejects.toThrow(/taken/);
    const entries = await h.csp.audit.entries();
    expect(entries.some((e) => e.action === 'user.register' && e.outcome === 'denied')).toBe(true);
  });

  it('throttles an account after repeated failures', async () => {
    await h.csp.registerUser(admin, { username: 'target', password: PW, role: 'doctor' });
    for (let i = 0; i < 5; i++) await expect(h.csp.login('target', 'not the password!')).rejects.toBeInstanceOf(AuthError);
    await expect(h.csp.login('target', PW)).rejects.toBeInstanceOf(ThrottledError);
  });

  it('rotates refresh tokens and revokes the family when a spent one is reused', async () => {
    const first = await h.csp.login('bob', PW);
    const second = await h.csp.refresh(first.refresh_token);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    await expect(h.csp.refresh(first.refresh_token)).rejects.toThrow(/reuse/);
    await expect(h.csp.refresh(second.refresh_token)).rejects.toThrow(/not valid/);
  });

  it('rejects tokens signed by another key, with alg none, or for another audience', async () => {
    const other = generateKeyPairSync('ed25519').privateKey;
    const forged = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
      .setSubject('u-x')
      .setIssuer('hrvault-csp')
      .setAudience('hrvault-api')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(other);
    await expect(h.csp.authenticate(forged)).rejects.toBeInstanceOf(AuthError);
    const none = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${Buffer.from('{"sub":"u-x","role":"admin"}').toString('base64url')}.`;
    await expect(h.csp.authenticate(none)).rejects.toBeInstanceOf(AuthError);
  });
});

describe('Protocol II: records, integrity, aggregates', () => {
  it('a health worker uploads, the doctor and the patient read, the admin and other patients cannot', async () => {
    await h.csp.appendRecord(nurse, 'P-A', { type: 'vitals', t_ms: 1_000, data: { hr_bpm: 71 } });
    await h.csp.appendRecord(doctor, 'P-A', { type: 'prescription', t_ms: 2_000, data: { text: 'walk 30 min daily' } });
    const asDoctor = await h.csp.getRecords(doctor, 'P-A');
    expect(asDoctor.records.map((r) => r.type)).toEqual(['vitals', 'prescription']);
    expect((await h.csp.getRecords(patientA, 'P-A', { type: 'prescription' })).records).toHaveLength(1);
    await expect(h.csp.getRecords(admin, 'P-A')).rejects.toBeInstanceOf(NotFoundError);
    await expect(h.csp.getRecords(patientA, 'P-B')).rejects.toBeInstanceOf(NotFoundError);
    await expect(h.csp.appendRecord(nurse, 'P-A', { type: 'prescription', data: {} })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(h.csp.appendRecord(patientA, 'P-A', { type: 'note', data: {} })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(h.csp.appendRecord(nurse, 'P-B', { type: 'vitals', data: {} })).rejects.toBeInstanceOf(NotFoundError);
    expect(await h.csp.verifyPatientChain('P-A')).toEqual({ ok: true, records: 2 });
  });

  it('break-glass lets a doctor read another patient with a reason, and flags it', async () => {
    await expect(h.csp.getRecords(doctor, 'P-B')).rejects.toBeInstanceOf(NotFoundError);
    await expect(h.csp.getRecords(doctor, 'P-B', { break_glass_reason: 'x' })).rejects.toBeInstanceOf(ValidationError);
    const r = await h.csp.getRecords(doctor, 'P-B', { break_glass_reason: 'patient unconscious in emergency room' });
    expect(r.records).toEqual([]);
    const flagged = (await h.csp.audit.entries()).filter((e) => e.flagged && e.action.includes('break_glass'));
    expect(flagged.length).toBeGreaterThan(0);
    await expect(h.csp.getRecords(nurse, 'P-B', { break_glass_reason: 'patient unconscious in emergency room' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('the SP computes means of HRV metadata under Paillier; the CSP decrypts the right answer', async () => {
    // Real results (the enclave's analysis of record 100), 10-s batches starting at T0.
    const T0 = Date.UTC(2026, 0, 1);
    const results = await seedResults(h.csp, 'P-A', { source: '100', startMs: T0, durationS: 60 });
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const of = (m: 'sdnn_ms' | 'mean_hr_bpm', rs = results) => rs.map((r) => r.window.measures?.[m]).filter((v): v is number => typeof v === 'number');
    const all = await h.csp.aggregate(doctor, { patient_id: 'P-A' }, 'sdnn_ms', T0, T0 + 10_000_000);
    expect(all.n).toBe(of('sdnn_ms').length);
    expect(all.mean!).toBeCloseTo(mean(of('sdnn_ms')), 3);
    const hr = await h.csp.aggregate(doctor, { mine: true }, 'mean_hr_bpm', T0, T0 + 10_000_000);
    expect(hr.mean!).toBeCloseTo(mean(of('mean_hr_bpm')), 3);
    // Records are filed at the batch end; the first three batches end by T0 + 30 s.
    const early = await h.csp.aggregate(doctor, { patient_id: 'P-A' }, 'sdnn_ms', T0, T0 + 30_001);
    expect(early.mean!).toBeCloseTo(mean(of('sdnn_ms', results.slice(0, 3))), 3);
    const none = await h.csp.aggregate(doctor, { patient_id: 'P-A' }, 'sdnn_ms', 0, T0);
    expect(none).toMatchObject({ mean: null, n: 0 });
    await expect(h.csp.aggregate(patientA, { patient_id: 'P-B' }, 'sdnn_ms', 0, 1)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('a flipped bit in a stored record is detected, reported and renews the keys; the other records stay readable', async () => {
    for (let i = 0; i < 3; i++) await h.csp.appendRecord(nurse, 'P-A', { type: 'note', t_ms: 5_000_000 + i, data: { text: `note ${i}` } });
    const rows = await h.spDb.query<{ patient_ref: string; seq: number; blob: Uint8Array }>(
      'SELECT patient_ref, seq, blob FROM sp_records ORDER BY seq DESC LIMIT 2',
    );
    const victim = rows[1]!;
    const bad = Buffer.from(victim.blob);
    bad[bad.length - 5]! ^= 0x04;
    await h.spDb.query('UPDATE sp_records SET blob = $1 WHERE patient_ref = $2 AND seq = $3', [bad, victim.patient_ref, victim.seq]);
    const renewalsBefore = h.csp.link.stats.renewals;
    const keyBefore = h.csp.link.keyId;
    const r = await h.csp.getRecords(doctor, 'P-A', { type: 'note', from_ms: 5_000_000 });
    expect(r.integrity_failures).toHaveLength(1);
    expect(r.integrity_failures[0]!.seq).toBe(victim.seq);
    expect(r.records.map((x) => x.data.text)).toEqual(['note 0', 'note 2']);
    expect(h.csp.link.stats.renewals).toBe(renewalsBefore + 1);
    expect(h.csp.link.keyId).not.toBe(keyBefore);
    expect((await h.csp.verifyPatientChain('P-A')).ok).toBe(false);
    const audit = await h.csp.audit.entries();
    expect(audit.some((e) => e.action === 'key.renewal')).toBe(true);
    // Restore the record so later tests see a clean chain.
    await h.spDb.query('UPDATE sp_records SET blob = $1 WHERE patient_ref = $2 AND seq = $3', [Buffer.from(victim.blob), victim.patient_ref, victim.seq]);
  });
});

describe('an SP that withholds', () => {
  it('a record missing from a filtered answer is reported, and so is a ciphertext left out of an aggregate', async () => {
    // A harness of its own: the renewals this triggers must not use up the shared one's rate limit.
    const h = await makeHarness('memory:');
    await h.csp.registerUser('bootstrap', { username: 'wanda', password: PW, role: 'patient', patient_id: 'P-W' });
    const wanda = await h.csp.authenticate((await h.csp.login('wanda', PW)).access_token);
    const T0 = Date.UTC(2026, 0, 1);
    const results = await seedResults(h.csp, 'P-W', { source: '100', startMs: T0, durationS: 30 });
    const times = results.map((r) => r.t_end_ms);
    expect(times).toHaveLength(3);
    const before = await h.csp.aggregate(wanda, { patient_id: 'P-W' }, 'sdnn_ms', T0, T0 + 1_000_000);
    expect(before.n).toBe(results.filter((r) => r.window.measures?.sdnn_ms != null).length);
    const [victim] = await h.spDb.query<{ patient_ref: string; seq: number }>(
      'SELECT patient_ref, seq FROM sp_metadata WHERE t_ms = $1',
      [times[1]],
    );
    await h.spDb.query('DELETE FROM sp_metadata WHERE patient_ref = $1 AND seq = $2', [victim!.patient_ref, victim!.seq]);
    await expect(h.csp.aggregate(wanda, { patient_id: 'P-W' }, 'sdnn_ms', T0, T0 + 1_000_000)).rejects.toMatchObject({ code: 'HRV_ERR_AGGREGATE_INTEGRITY' });
    await h.spDb.query('DELETE FROM sp_records WHERE patient_ref = $1 AND seq = $2', [victim!.patient_ref, victim!.seq]);
    const r = await h.csp.getRecords(wanda, 'P-W', { type: 'hrv', from_ms: T0 });
    expect(r.records.map((x) => x.t_ms)).toEqual([times[0], times[2]]);
    expect(r.integrity_failures).toEqual([{ seq: victim!.seq, reason: `record ${victim!.seq} was withheld by the SP` }]);
    await h.close();
  });
});

describe('Protocol I, Phases I and IV on the wire', () => {
  it('a bit flipped in transit during registration renews K_st, retries, and stores the user exactly once', async () => {
    let flipped = false;
    h.tamper.next = (req) => {
      if (!flipped && req.kind === 'sealed' && req.direction === 'storage') {
        flipped = true;
        const ct = Buffer.from(req.msg.ct, 'base64url');
        ct[3]! ^= 0x80;
        return { ...req, msg: { ...req.msg, ct: ct.toString('base64url') } };
      }
      return req;
    };
    const before = h.csp.link.stats.renewals;
    try {
      // The bootstrap path: this test is about the wire, and an admin's registration would wait for a second admin.
      await h.csp.registerUser('bootstrap', { username: 'dana', password: PW, role: 'health_worker', patients: ['P-B'] });
    } finally {
      h.tamper.next = undefined;
    }
    expect(flipped).toBe(true);
    expect(h.csp.link.stats.renewals).toBe(before + 1);
    expect(h.sp.stats.integrityFailures).toBeGreaterThan(0);
    const rows = await h.spDb.query('SELECT user_ref FROM sp_users');
    const dana = await h.csp.login('dana', PW);
    expect(dana.access_token).toBeTruthy();
    expect(rows.length).toBe(h.csp.listUsers(admin).length);
  });

  it('a replayed query is rejected by the SP', async () => {
    let captured: unknown;
    h.tamper.next = (req) => {
      if (req.kind === 'sealed' && req.direction === 'query') captured = req;
      return req;
    };
    await h.csp.getRecords(doctor, 'P-A', { type: 'vitals' });
    h.tamper.next = undefined;
    expect(captured).toBeDefined();
    const answer = await h.sp.handle(captured);
    expect(answer).toMatchObject({ kind: 'error', code: 'replay' });
  });

  it('a man in the middle who swaps the handshake keys is detected and no session is formed', async () => {
    const { ephemeralX25519 } = await import('../crypto/index.js');
    const evil = ephemeralX25519().publicKey.toString('base64url');
    h.tamper.next = (req) => (req.kind === 'hello' ? { ...req, hello: { ...(req.hello as object), eph: evil } } : req);
    try {
      await expect(h.csp.link.connect()).rejects.toThrow(/handshake refused|signature/);
    } finally {
      h.tamper.next = undefined;
    }
    await h.csp.link.connect();
    expect((await h.csp.getRecords(doctor, 'P-A', { type: 'prescription' })).records).toHaveLength(1);
  });

  it('renewals are rate-limited so tampering cannot become a denial of service by handshake storm', async () => {
    h.tamper.next = (req) => {
      if (req.kind !== 'sealed') return req;
      const ct = Buffer.from(req.msg.ct, 'base64url');
      ct[0]! ^= 1;
      return { ...req, msg: { ...req.msg, ct: ct.toString('base64url') } };
    };
    const handshakesBefore = h.sp.stats.handshakes;
    try {
      for (let i = 0; i < 6; i++) await expect(h.csp.getRecords(doctor, 'P-A', { type: 'vitals' })).rejects.toThrow();
    } finally {
      h.tamper.next = undefined;
    }
    expect(h.sp.stats.handshakes - handshakesBefore).toBeLessThanOrEqual(3);
    expect(h.csp.link.stats.refusedRenewals).toBeGreaterThan(0);
  });
});

describe('what the SP can see', () => {
  it("the SP's database holds no plaintext clinical value or user field, and never the Paillier private key", async () => {
    const tables = ['sp_users', 'sp_records', 'sp_metadata', 'sp_config', 'sp_devices', 'sp_dedupe'];
    let dump = '';
    for (const t of tables) {
      const rows = await h.spDb.query<Record<string, unknown>>(`SELECT * FROM ${t}`);
      for (const row of rows) {
        for (const v of Object.values(row)) dump += v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : String(v);
        dump += '\n';
      }
    }
    for (const secret of ['alice', 'Alice Example', 'dr.house', 'P-A', 'P-B', 'hr_bpm', 'gw-', 'pipeline', 'walk 30 min', 'note 0', 'argon2', 'sdnn', 'patient', 'doctor']) {
      expect(dump.includes(secret), `SP database contains ${secret}`).toBe(false);
    }
    const { p, q } = exportPaillierPrivateKey(h.keys.paillier.privateKey);
    expect(dump.includes(p) || dump.includes(q)).toBe(false);
  });

  it('SP code cannot reach the Paillier private key: it imports no decryption', () => {
    const src = readFileSync(new URL('../sp/sp-service.ts', import.meta.url), 'utf8');
    expect(src).not.toMatch(/decryptPacked|importPaillierPrivateKey|privateKey\.decrypt|csp-keys/);
  });
});

describe('audit log', () => {
  it('verifies, then detects an edited, a deleted and a reordered entry', async () => {
    expect(await h.csp.verifyAudit()).toMatchObject({ ok: true });
    const [e] = await h.cspDb.query<{ seq: number; entry: string }>('SELECT seq, entry FROM csp_audit WHERE seq = 3');
    await h.cspDb.query('UPDATE csp_audit SET entry = $1 WHERE seq = 3', [e!.entry.replace('"ok"', '"denied"')]);
    expect(await h.csp.verifyAudit()).toMatchObject({ ok: false, seq: 3 });
    await h.cspDb.query('UPDATE csp_audit SET entry = $1 WHERE seq = 3', [e!.entry]);
    expect((await h.csp.verifyAudit()).ok).toBe(true);
    await h.cspDb.query('UPDATE csp_audit SET seq = -4 WHERE seq = 4');
    await h.cspDb.query('UPDATE csp_audit SET seq = 4 WHERE seq = 5');
    await h.cspDb.query('UPDATE csp_audit SET seq = 5 WHERE seq = -4');
    expect((await h.csp.verifyAudit()).ok).toBe(false);
    await h.cspDb.query('UPDATE csp_audit SET seq = -4 WHERE seq = 5');
    await h.cspDb.query('UPDATE csp_audit SET seq = 5 WHERE seq = 4');
    await h.cspDb.query('UPDATE csp_audit SET seq = 4 WHERE seq = -4');
    expect((await h.csp.verifyAudit()).ok).toBe(true);
    await h.cspDb.query('DELETE FROM csp_audit WHERE seq = 6');
    expect(await h.csp.verifyAudit()).toMatchObject({ ok: false, problem: 'entry 6 is missing' });
    const [last] = await h.cspDb.query<{ seq: number }>('SELECT max(seq) AS seq FROM csp_audit');
    await h.cspDb.query('DELETE FROM csp_audit WHERE seq >= 6');
    const cut = await h.csp.verifyAudit();
    expect(cut.ok).toBe(false);
    expect(cut.problem).toMatch(new RegExp(`anchor names entry ${last!.seq}`));
  });
});
