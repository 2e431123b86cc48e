/**
 * The CSP's schema under the migrator: migration 1 gathers the DDL its modules ran before migrations, so a CSP
 * database from that code (its tables, rows and audit anchor, no ledger) restarts as it was, audit log intact;
 * a schema a newer release wrote stops the start before anything is written. Embedded engine, through the
 * access harness.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { makeHarness, type Harness } from '../test-support/access/harness.js';
import { migrationChecksum, schemaVersion } from '../sql/index.js';
import { CSP_MIGRATIONS } from './schema.js';

const PW = 'correct horse battery staple';
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('CSP schema', () => {
  it('migration 1 is never edited once released', () => {
    expect(migrationChecksum(CSP_MIGRATIONS[0]!)).toBe('47abd80ebebe1cbb8177e53575ba45d30445eb9f6eccca5051742ea725ce709b');
  });

  it('a CSP database from before migrations restarts with its users and an audit log that still verifies', async () => {
    h = await makeHarness();
    expect(await schemaVersion(h.cspDb, 'csp')).toBe(1);
    await h.csp.registerUser('bootstrap', { username: 'adm', password: PW, role: 'admin' });
    await h.csp.login('adm', PW);
    const entries = (await h.csp.verifyAudit()).entries;
    await h.cspDb.exec('DROP TABLE schema_migrations');
    const csp = await h.restartCsp();
    expect(await schemaVersion(h.cspDb, 'csp')).toBe(1);
    expect(await csp.verifyAudit()).toMatchObject({ ok: true });
    expect((await csp.verifyAudit()).entries).toBeGreaterThanOrEqual(entries);
    await expect(csp.login('adm', PW)).resolves.toMatchObject({ access_token: expect.any(String) as unknown });
  });

  it('refuses to start on a schema a newer release wrote, leaving the audit log as it was', async () => {
    h = await makeHarness();
    const before = await h.cspDb.query('SELECT seq, hash FROM csp_audit ORDER BY seq');
    await h.cspDb.query("INSERT INTO schema_migrations (component, version, name, checksum) VALUES ('csp', 2, 'newer', 'x')");
    const err = await h.restartCsp().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'HRV_ERR_SCHEMA_NEWER', component: 'csp', databaseVersion: 2, codeVersion: 1 });
    expect(await h.cspDb.query('SELECT seq, hash FROM csp_audit ORDER BY seq')).toEqual(before);
  });
});
