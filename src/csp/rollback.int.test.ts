/**
 * Rollback by the untrusted SP, done for real: the SP's database (PostgreSQL) gets an older row written back
 * with SQL, the CSP is restarted from its data directory (keys, database, audit anchor: all files), and the
 * access the older row would grant is tried. The CSP keeps its own durable high-water mark per entry, so a
 * row older than what it last stored or saw is refused (HRV_ERR_SP_ROLLBACK) and audited, never served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKeyPair } from '../crypto/index.js';
import { loadOrCreateCspKeys, startCsp, type CspRuntime } from './runtime.js';
import { signDeviceToken } from './devices.js';
import { startSp, type SpRuntime } from '../sp/index.js';
import { openSqlDb, type SqlDb } from '../sql/index.js';
import { PG_URL, postgresReachable } from '../test-support/access/postgres.js';

const PW = 'correct horse battery staple';
const pgReachable = await postgresReachable();

describe.skipIf(!pgReachable)('SP rollback of what it returns (PostgreSQL SP, CSP restarted from its data dir)', () => {
  let dir: string;
  let schema: string;
  let spUrl: string;
  let admin: SqlDb;
  let sp: SpRuntime;
  let csp: CspRuntime;

  const startSpNow = async () => {
    await mkdir(join(dir, 'csp'), { recursive: true, mode: 0o700 });
    const keys = await loadOrCreateCspKeys(join(dir, 'csp', 'keys.json'), 1024);
    sp = await startSp({ dataDir: dir, spDb: spUrl, cspPublicKey: keys.identity.publicKey });
  };
  const restartCsp = async () => {
    await csp?.close();
    csp = await startCsp({ dataDir: dir, paillierBits: 1024, sp: { inProcess: sp.sp, publicKey: sp.identity.publicKey } });
    return csp;
  };
  const doctorRead = async (patient: string, username = 'doc.rb') => {
    const p = await csp.csp.authenticate((await csp.csp.login(username, PW)).access_token);
    return csp.csp.getRecords(p, patient);
  };
  const adminPrincipal = async () => csp.csp.authenticate((await csp.csp.login('admin.rb', PW)).access_token);
  const rollbackEntries = async () => (await csp.csp.audit.search({ action: 'integrity.rollback', limit: 100 })).items;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hrv-rollback-'));
    schema = `trollback_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
    admin = await openSqlDb(PG_URL);
    await admin.exec(`CREATE SCHEMA ${schema}`);
    const url = new URL(PG_URL);
    url.searchParams.set('options', `-c search_path=${schema}`);
    spUrl = url.toString();
    await startSpNow();
    await restartCsp();
    await csp.csp.registerUser('bootstrap', { username: 'admin.rb', password: PW, role: 'admin' });
    // The second admin of the two-person rule: an admin's grant of patients waits for another admin's approval.
    await csp.csp.registerUser('bootstrap', { username: 'admin2.rb', password: PW, role: 'admin' });
    for (const id of ['P-R1', 'P-R2']) {
      await csp.csp.registerUser('bootstrap', { username: `pat.${id.toLowerCase()}`, password: PW, role: 'patient', patient_id: id });
    }
    await csp.csp.registerUser('bootstrap', { username: 'doc.rb', password: PW, role: 'doctor', patients: ['P-R1'] });
  });

  afterAll(async () => {
    await csp?.close();
    await sp?.close();
    await admin?.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("an SP that writes a revoked doctor's older user row back gets the doctor no access after a CSP restart (refused with HRV_ERR_SP_ROLLBACK, audited)", async () => {
    const adm = await adminPrincipal();
    const doc = (await csp.csp.authenticate((await csp.csp.login('doc.rb', PW)).access_token)) as { kind: 'user'; user: { user_id: string } };
    // The admin grants P-R2; the SP keeps that row; the admin then revokes it again.
    const asked = await csp.csp.setAssignments(adm, doc.user.user_id, ['P-R1', 'P-R2']);
    if (asked.grant?.state === 'pending') {
      await csp.csp.approveGrant(await csp.csp.authenticate((await csp.csp.login('admin2.rb', PW)).access_token), asked.grant.grant_id);
    }
    await expect(doctorRead('P-R2')).resolves.toMatchObject({ integrity_failures: [] });
    const [granted] = await sp.db.query<{ user_ref: string; version: number; blob: Buffer }>(
      'SELECT user_ref, version, blob FROM sp_users ORDER BY version DESC LIMIT 1',
    );
    await csp.csp.setAssignments(adm, doc.user.user_id, ['P-R1']);
    await expect(doctorRead('P-R2')).rejects.toMatchObject({ code: 'HRV_ERR_NOT_FOUND' });

    // The attack: the granting row goes back into the SP's database, and the CSP restarts from its files.
    await sp.db.query('UPDATE sp_users SET version = $2, blob = $3 WHERE user_ref = $1', [granted!.user_ref, granted!.version, granted!.blob]);
    await restartCsp();

    const read = doctorRead('P-R2');
    await expect(read).rejects.toMatchObject({ code: 'HRV_ERR_SP_ROLLBACK' });
    const audited = await rollbackEntries();
    expect(audited.some((e) => e.target === `user:${granted!.user_ref}` && e.flagged === true)).toBe(true);
  });

  it('an SP that serves an older user row under a newer version number is refused: the version is bound into the entry', async () => {
    const [row] = await sp.db.query<{ user_ref: string; version: number }>("SELECT user_ref, version FROM sp_users ORDER BY version DESC LIMIT 1");
    const [older] = await sp.db.query<{ blob: Buffer }>('SELECT blob FROM sp_users WHERE user_ref = $1', [row!.user_ref]);
    // Same user, its current blob relabelled as a later version: a stale blob can never pass for a fresh one.
    await sp.db.query('UPDATE sp_users SET version = $2 WHERE user_ref = $1', [row!.user_ref, row!.version + 5]);
    await expect(csp.csp.login('doc.rb', PW)).rejects.toMatchObject({ code: 'HRV_ERR_RECORD_INTEGRITY' });
    await sp.db.query('UPDATE sp_users SET version = $2, blob = $3 WHERE user_ref = $1', [row!.user_ref, row!.version, older!.blob]);
  });

  it("an SP that writes a revoked gateway's older device row back does not re-enable the gateway after a CSP restart", async () => {
    const adm = await adminPrincipal();
    const gw = generateSigningKeyPair();
    await csp.csp.registerDevice('bootstrap', { id: 'gw-rb', signing_public_key: Buffer.from(gw.publicKey).toString('hex'), patients: ['P-R1'] });
    const [active] = await sp.db.query<{ device_ref: string; version: number; blob: Buffer }>('SELECT device_ref, version, blob FROM sp_devices');
    await csp.csp.revokeDevice(adm, 'gw-rb');
    await expect(csp.csp.authenticateDevice(await signDeviceToken(gw, 'gw-rb'))).rejects.toMatchObject({ code: 'HRV_ERR_DEVICE' });

    await sp.db.query('UPDATE sp_devices SET version = $2, blob = $3 WHERE device_ref = $1', [active!.device_ref, active!.version, active!.blob]);
    await restartCsp();

    await expect(csp.csp.authenticateDevice(await signDeviceToken(gw, 'gw-rb'))).rejects.toMatchObject({ code: 'HRV_ERR_DEVICE' });
    const audited = await rollbackEntries();
    expect(audited.some((e) => e.target === `device:${active!.device_ref}` && e.flagged === true)).toBe(true);
  });

  it("an SP that rolls a patient's records back (its newest rows deleted) after a CSP restart has the read report them withheld, never an older chain as whole", async () => {
    // doc.rb is locked out since the first test (its entry was rolled back): a colleague writes and reads.
    await csp.csp.registerUser('bootstrap', { username: 'doc.notes', password: PW, role: 'doctor', patients: ['P-R1'] });
    const doc = await csp.csp.authenticate((await csp.csp.login('doc.notes', PW)).access_token);
    for (const text of ['first note', 'second note', 'third note']) await csp.csp.appendRecord(doc, 'P-R1', { type: 'note', data: { text } });
    const [{ n } = { n: 0 }] = await sp.db.query<{ n: number }>('SELECT max(seq) AS n FROM sp_records');
    await sp.db.query('DELETE FROM sp_records WHERE seq = $1', [n]);
    await restartCsp();
    const read = await doctorRead('P-R1', 'doc.notes');
    expect(read.records.map((r) => (r.data as { text: string }).text)).toEqual(['first note', 'second note']);
    expect(read.integrity_failures).toEqual([{ seq: n, reason: expect.stringMatching(/withheld/) }]);
    expect(await csp.csp.verifyPatientChain('P-R1')).toMatchObject({ ok: false });
  });

  it("an SP that writes a revoked doctor's older row back while the CSP runs gets no login from it", async () => {
    const adm = await adminPrincipal();
    await csp.csp.registerUser('bootstrap', { username: 'doc.live', password: PW, role: 'doctor', patients: ['P-R2'] });
    const rows = async () => sp.db.query<{ user_ref: string; version: number; blob: Buffer }>('SELECT user_ref, version, blob FROM sp_users');
    const before = await rows();
    const me = (await csp.csp.authenticate((await csp.csp.login('doc.live', PW)).access_token)) as { kind: 'user'; user: { user_id: string } };
    await csp.csp.setAssignments(adm, me.user.user_id, []);
    // The one row the revocation changed is the doctor's; its earlier version is the grant.
    const after = await rows();
    const changed = after.find((r) => before.find((o) => o.user_ref === r.user_ref)?.version !== r.version);
    const granted = before.find((o) => o.user_ref === changed?.user_ref);
    expect(granted?.version).toBe(1);
    await sp.db.query('UPDATE sp_users SET version = $2, blob = $3 WHERE user_ref = $1', [granted!.user_ref, granted!.version, granted!.blob]);
    await expect(csp.csp.login('doc.live', PW)).rejects.toMatchObject({ code: 'HRV_ERR_SP_ROLLBACK' });
  });
});
