/**
 * The SP's schema under the migrator (embedded engine): migration 1 is the DDL the SP ran before migrations,
 * so a database that code wrote is adopted with its rows; a schema a newer release wrote stops the start.
 */
import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../crypto/index.js';
import { migrationChecksum, schemaVersion, type SqlDb } from '../sql/index.js';
import { schemaPerTest } from '../test-support/sql-schemas.js';
import { SP_MIGRATIONS, SpService } from './sp-service.js';

const spIdentity = generateIdentity('sp');
const csp = { id: 'csp', publicKey: generateIdentity('csp').publicKey };
const fresh = schemaPerTest();
const start = (db: SqlDb) => SpService.create({ identity: spIdentity, csp, db, reorderWindow: 64 });

describe('SP schema', () => {
  it('migration 1 is byte for byte the DDL of the last release without migrations, and is never edited', () => {
    // sha256 of SCHEMA in src/sp/sp-service.ts at d266e86: databases that code created hold exactly these tables.
    expect(migrationChecksum(SP_MIGRATIONS[0]!)).toBe('6f7afeed801ea19e12f961579458fc962e5cab6a528dcba4f85216b9c1710faf');
  });

  it('a fresh database is at version 1 after a start, and a second start applies nothing', async () => {
    const db = await fresh();
    await start(db);
    expect(await schemaVersion(db, 'sp')).toBe(SP_MIGRATIONS.length);
    await start(db);
    expect(await db.query("SELECT version FROM schema_migrations WHERE component = 'sp'")).toEqual([{ version: 1 }]);
  });

  it('adopts a database the pre-migration SP wrote (its tables and rows, no ledger), keeping the rows', async () => {
    const db = await fresh();
    await start(db);
    await db.query("INSERT INTO sp_users (user_ref, version, blob) VALUES ('u1', 3, '\\x0102'::bytea)");
    await db.exec('DROP TABLE schema_migrations');
    await start(db);
    expect(await schemaVersion(db, 'sp')).toBe(1);
    expect(await db.query<{ user_ref: string; version: number }>('SELECT user_ref, version FROM sp_users')).toEqual([{ user_ref: 'u1', version: 3 }]);
  });

  it('refuses to start on a schema a newer release wrote, naming the SP and both versions', async () => {
    const db = await fresh();
    await start(db);
    await db.query("INSERT INTO schema_migrations (component, version, name, checksum) VALUES ('sp', 2, 'newer', 'x')");
    const err = await start(db).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'HRV_ERR_SCHEMA_NEWER', component: 'sp', databaseVersion: 2, codeVersion: 1 });
    expect((err as Error).message).toMatch(/"sp".*version 2.*newer than this code's 1/);
  });
});
