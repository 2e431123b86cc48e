/**
 * The end of the audit log cannot be cut undetected. The anchor (the newest link, kept in the CSP's own data
 * directory) is MAC'd under the CSP's audit key; the log must end exactly where it says. Each attack is done on
 * the files of a CSP started from its data directory: rows deleted from the CSP's database with SQL, the anchor
 * file deleted, forged or replaced by an older copy; then `hrvault audit verify` / AuditLog.verify is run and
 * the CSP restarted. The crash window of an append (the anchor names both ends while the commit is in flight)
 * stays safe: an append interrupted on either side of its commit verifies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AUDIT_ANCHOR_FILE, AuditLog, fileAnchor, type AuditAnchor, type AuditVerification } from './audit.js';
import { generateCspKeys, saveCspKeys, type CspKeys } from './csp-keys.js';
import { startCsp } from './runtime.js';
import { SpService } from '../sp/index.js';
import { generateIdentity } from '../crypto/index.js';
import { openScratchDb, type ScratchDb, type SqlDb } from '../sql/index.js';
import { runCli } from '../test-support/processes.js';
import { PG_URL, postgresReachable } from '../test-support/access/postgres.js';

const PW = 'correct horse battery staple';
const pgReachable = await postgresReachable();
const spIdentity = generateIdentity('sp');
let keys: CspKeys;
const dirs: string[] = [];
const scratches: ScratchDb[] = [];

beforeAll(async () => {
  keys = await generateCspKeys('csp', 1024);
});
afterAll(async () => {
  for (const s of scratches) await s.drop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/**
 * A log of a few entries written by AuditLog itself, on a fresh PostgreSQL schema (the CSP's own engine is
 * PGlite; the SQL is the same and PostgreSQL opens in milliseconds), with its anchor in a file. `reopen` does
 * what a CSP start does first: AuditLog.open with the end check.
 */
async function usedLog(entries = 4): Promise<{ db: SqlDb; anchorPath: string; verify(): Promise<AuditVerification>; reopen(): Promise<AuditLog>; log: AuditLog }> {
  const dir = await mkdtemp(join(tmpdir(), 'hrv-anchor-'));
  dirs.push(dir);
  const scratch = await openScratchDb(PG_URL, 'tanchor');
  scratches.push(scratch);
  const anchorPath = join(dir, AUDIT_ANCHOR_FILE);
  const log = await AuditLog.open(scratch.db, keys.auditKey, fileAnchor(anchorPath));
  for (let i = 0; i < entries; i++) await log.append({ actor: 'adm', action: 'auth.login', outcome: 'ok' });
  return {
    db: scratch.db,
    anchorPath,
    log,
    // As `hrvault audit verify` does: opened unchecked, then a full pass.
    verify: async () => (await AuditLog.open(scratch.db, keys.auditKey, fileAnchor(anchorPath), { check: false })).verify(),
    reopen: () => AuditLog.open(scratch.db, keys.auditKey, fileAnchor(anchorPath)),
  };
}

async function cutTail(db: SqlDb, rows: number): Promise<number> {
  const [{ m } = { m: 0 }] = await db.query<{ m: number }>('SELECT max(seq) AS m FROM csp_audit');
  await db.query('DELETE FROM csp_audit WHERE seq > $1', [m - rows]);
  return m - rows;
}

describe.skipIf(!pgReachable)('the end of the audit log', () => {
  it('cut with its anchor deleted fails `hrvault audit verify` (exit 1) on a real CSP data dir, and the CSP refuses to start on it (HRV_ERR_AUDIT)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hrv-anchor-e2e-'));
    dirs.push(dir);
    await mkdir(join(dir, 'csp'), { recursive: true, mode: 0o700 });
    await saveCspKeys(join(dir, 'csp', 'keys.json'), keys);
    const spScratch = await openScratchDb(PG_URL, 'tanchorsp');
    scratches.push(spScratch);
    const sp = await SpService.create({ identity: spIdentity, csp: { id: 'csp', publicKey: keys.identity.publicKey }, db: spScratch.db, reorderWindow: 64 });
    const start = () => startCsp({ dataDir: dir, keys, sp: { inProcess: sp, publicKey: spIdentity.publicKey } });
    const csp = await start();
    await csp.csp.registerUser('bootstrap', { username: 'adm.anchor', password: PW, role: 'admin' });
    for (let i = 0; i < 3; i++) await csp.csp.login('adm.anchor', PW);
    expect(await csp.csp.verifyAudit()).toMatchObject({ ok: true });
    await cutTail(csp.db, 2);
    await csp.close();
    const anchorPath = join(dir, 'csp', 'audit-anchor.json');
    await rm(anchorPath);
    const cli = await runCli(['audit', 'verify', '--data-dir', dir, '--json']);
    expect(cli.code, cli.stderr).toBe(1);
    expect(JSON.parse(cli.stdout)).toMatchObject({ ok: false, problem: expect.stringMatching(/anchor is missing/) });
    await expect(start()).rejects.toMatchObject({ code: 'HRV_ERR_AUDIT' });
    expect(existsSync(anchorPath)).toBe(false); // refusing to start wrote no fresh anchor over the evidence
  }, 900_000);

  it('cut with its anchor deleted fails verification, and reopening it (a CSP start) is refused', async () => {
    const l = await usedLog();
    expect(await l.verify()).toMatchObject({ ok: true, entries: 4 });
    await cutTail(l.db, 2);
    await rm(l.anchorPath);
    expect(await l.verify()).toMatchObject({ ok: false, problem: expect.stringMatching(/anchor is missing/) });
    await expect(l.reopen()).rejects.toMatchObject({ code: 'HRV_ERR_AUDIT' });
  });

  it('cut with a forged anchor naming the new end fails verification: an unMACed anchor and one MACed under another key', async () => {
    const l = await usedLog();
    const end = await cutTail(l.db, 2);
    const [{ hash } = { hash: '' }] = await l.db.query<{ hash: string }>('SELECT hash FROM csp_audit WHERE seq = $1', [end]);
    await writeFile(l.anchorPath, JSON.stringify({ seq: end, hash }));
    expect(await l.verify()).toMatchObject({ ok: false, problem: expect.stringMatching(/fails its MAC/) });
    await writeFile(l.anchorPath, JSON.stringify({ v: 2, head: { seq: end, hash }, mac: '0'.repeat(64) }));
    expect(await l.verify()).toMatchObject({ ok: false, problem: expect.stringMatching(/fails its MAC/) });
    // A well-formed anchor at the same end, MACed by a log under a key that is not the CSP's.
    await rm(l.anchorPath);
    const other = await openScratchDb(PG_URL, 'tanchorx');
    scratches.push(other);
    const forger = await AuditLog.open(other.db, randomBytes(32), fileAnchor(l.anchorPath));
    for (let i = 0; i < end; i++) await forger.append({ actor: 'forger', action: 'noop', outcome: 'ok' });
    expect(await l.verify()).toMatchObject({ ok: false, problem: expect.stringMatching(/fails its MAC/) });
    await expect(l.reopen()).rejects.toMatchObject({ code: 'HRV_ERR_AUDIT' });
  });

  it('with its anchor rolled back to an older authentic copy fails verification, under the whole log and under a log cut short of the copy', async () => {
    const l = await usedLog(2);
    const old = await readFile(l.anchorPath, 'utf8');
    for (let i = 0; i < 4; i++) await l.log.append({ actor: 'adm', action: 'auth.login', outcome: 'ok' });
    await writeFile(l.anchorPath, old);
    expect(await l.verify()).toMatchObject({ ok: false, problem: expect.stringMatching(/past its anchor.*rolled back/) });
    await expect(l.reopen()).rejects.toMatchObject({ code: 'HRV_ERR_AUDIT' });
    await cutTail(l.db, 2);
    expect(await l.verify()).toMatchObject({ ok: false, problem: expect.stringMatching(/past its anchor/) });
    await cutTail(l.db, 3);
    expect(await l.verify()).toMatchObject({ ok: false, problem: expect.stringMatching(/anchor names entry 2: entries were removed/) });
  });

  it('with the anchor missing fails even when no row was cut or every row was; a brand-new log is created with its anchor and verifies', async () => {
    const l = await usedLog();
    await rm(l.anchorPath);
    expect(await l.verify()).toMatchObject({ ok: false, problem: expect.stringMatching(/anchor is missing/) });
    // A log whose every row was deleted is not brand-new: it needs its anchor too.
    await l.db.query('DELETE FROM csp_audit');
    expect(await l.verify()).toMatchObject({ ok: false, problem: expect.stringMatching(/anchor is missing/) });
    await expect(l.reopen()).rejects.toMatchObject({ code: 'HRV_ERR_AUDIT' });
    const fresh = await usedLog(0);
    expect(existsSync(fresh.anchorPath)).toBe(true);
    expect(await fresh.verify()).toMatchObject({ ok: true, entries: 0 });
  });
});

describe.skipIf(!pgReachable)('the crash window of an append', () => {
  /** An anchor on a file whose writes can be made to fail from the `n`-th on (0: never). */
  function flakyAnchor(path: string): AuditAnchor & { failFrom: number; writes: number } {
    const inner = fileAnchor(path);
    const a = {
      failFrom: 0,
      writes: 0,
      read: () => inner.read(),
      write: async (text: string) => {
        a.writes++;
        if (a.failFrom > 0 && a.writes >= a.failFrom) throw new Error('disk gone');
        await inner.write(text);
      },
    };
    return a;
  }

  it('an append whose commit landed but whose anchor was not updated after it verifies, and reopening settles the anchor', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hrv-anchor-crash-'));
    dirs.push(dir);
    const path = join(dir, AUDIT_ANCHOR_FILE);
    const scratch = await openScratchDb(PG_URL, 'tanchorc');
    scratches.push(scratch);
    await (async (db: SqlDb) => {
      const anchor = flakyAnchor(path);
      const log = await AuditLog.open(db, keys.auditKey, anchor);
      await log.append({ actor: 't', action: 'one', outcome: 'ok' });
      // The next append's pre-commit anchor write succeeds, the one after its commit fails (as a crash there would).
      anchor.failFrom = anchor.writes + 2;
      const e = await log.append({ actor: 't', action: 'two', outcome: 'ok' });
      expect(JSON.parse((await anchor.read())!)).toMatchObject({ head: { seq: 1 }, pending: { seq: e.seq } });
      expect(await log.verify()).toMatchObject({ ok: true, entries: 2 });
      anchor.failFrom = 0;
      await AuditLog.open(db, keys.auditKey, anchor);
      expect(JSON.parse((await anchor.read())!)).toMatchObject({ head: { seq: 2 } });
      expect(JSON.parse((await anchor.read())!).pending).toBeUndefined();
    })(scratch.db);
  });

  it('an append whose commit never landed after its anchor named it verifies at the old end, and the next append continues the chain', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hrv-anchor-crash-'));
    dirs.push(dir);
    const path = join(dir, AUDIT_ANCHOR_FILE);
    const scratch = await openScratchDb(PG_URL, 'tanchorc');
    scratches.push(scratch);
    await (async (real: SqlDb) => {
      let loseCommit = false;
      // The commit is lost after everything in the transaction ran, the pending anchor write included.
      const db: SqlDb = {
        engine: real.engine,
        query: (s, p) => real.query(s, p),
        exec: (s) => real.exec(s),
        close: () => real.close(),
        transaction: (fn) =>
          real.transaction(async (tx) => {
            const out = await fn(tx);
            if (loseCommit) throw new Error('crash before commit');
            return out;
          }),
      };
      const anchor = fileAnchor(path);
      const log = await AuditLog.open(db, keys.auditKey, anchor);
      await log.append({ actor: 't', action: 'one', outcome: 'ok' });
      loseCommit = true;
      await expect(log.append({ actor: 't', action: 'two', outcome: 'ok' })).rejects.toThrow(/crash before commit/);
      loseCommit = false;
      expect(JSON.parse((await anchor.read())!)).toMatchObject({ head: { seq: 1 }, pending: { seq: 2 } });
      expect(await log.verify()).toMatchObject({ ok: true, entries: 1 });
      const reopened = await AuditLog.open(db, keys.auditKey, anchor);
      await reopened.append({ actor: 't', action: 'two again', outcome: 'ok' });
      expect(await reopened.verify()).toMatchObject({ ok: true, entries: 2 });
    })(scratch.db);
  });
});
