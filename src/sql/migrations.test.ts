/**
 * The migrator on the embedded engine (PGlite): order, idempotence, the refusals (newer schema, edited
 * migration, malformed list) and the upgrade of a database that the pre-migration code created with
 * `CREATE TABLE IF NOT EXISTS`. The same code against a PostgreSQL server: migrations.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { migrate, migrationChecksum, schemaVersion, validateMigrations, type Migration } from './migrations.js';
import { tableExists, type SqlDb } from './sql.js';
import { schemaPerTest } from '../test-support/sql-schemas.js';

const V1: Migration = {
  version: 1,
  name: 'notes',
  up: `CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS notes_body ON notes (body);`,
};
const V2: Migration = { version: 2, name: 'notes author', up: 'ALTER TABLE notes ADD COLUMN author TEXT' };
const V3: Migration = { version: 3, name: 'tags', up: 'CREATE TABLE tags (note INTEGER NOT NULL, tag TEXT NOT NULL)' };

const fresh = schemaPerTest();

async function ledger(db: SqlDb, component = 'notes') {
  return db.query<{ version: number; name: string; checksum: string; applied_at: unknown }>(
    'SELECT version, name, checksum, applied_at FROM schema_migrations WHERE component = $1 ORDER BY version',
    [component],
  );
}

describe('migrate (PGlite)', () => {
  it('applies every migration in order on an empty database and records each with its checksum', async () => {
    const db = await fresh();
    const r = await migrate(db, 'notes', [V1, V2, V3]);
    expect(r).toEqual({ component: 'notes', applied: [1, 2, 3], version: 3 });
    const rows = await ledger(db);
    expect(rows.map((x) => [x.version, x.name, x.checksum])).toEqual([
      [1, 'notes', migrationChecksum(V1)],
      [2, 'notes author', migrationChecksum(V2)],
      [3, 'tags', migrationChecksum(V3)],
    ]);
    expect(rows.every((x) => x.applied_at instanceof Date)).toBe(true);
    // V2 ran after V1 (the column exists) and V3 after both.
    await db.query("INSERT INTO notes (id, body, author) VALUES (1, 'x', 'ann')");
    await db.query("INSERT INTO tags (note, tag) VALUES (1, 't')");
    expect(await schemaVersion(db, 'notes')).toBe(3);
  });

  it('is idempotent: a second start applies nothing, a later release applies only what is new', async () => {
    const db = await fresh();
    expect((await migrate(db, 'notes', [V1])).applied).toEqual([1]);
    expect(await migrate(db, 'notes', [V1])).toEqual({ component: 'notes', applied: [], version: 1 });
    expect(await migrate(db, 'notes', [V1, V2, V3])).toEqual({ component: 'notes', applied: [2, 3], version: 3 });
    expect(await migrate(db, 'notes', [V1, V2, V3])).toEqual({ component: 'notes', applied: [], version: 3 });
    expect((await ledger(db)).map((x) => x.version)).toEqual([1, 2, 3]);
  });

  it('keeps components apart in one ledger', async () => {
    const db = await fresh();
    await migrate(db, 'notes', [V1, V2]);
    const other: Migration = { version: 1, name: 'other', up: 'CREATE TABLE other_t (x INTEGER)' };
    expect(await migrate(db, 'other', [other])).toEqual({ component: 'other', applied: [1], version: 1 });
    expect(await schemaVersion(db, 'notes')).toBe(2);
    expect(await schemaVersion(db, 'other')).toBe(1);
    expect(await schemaVersion(db, 'absent')).toBe(0);
  });

  it('refuses a database a newer release wrote, naming the component and both versions, and changes nothing', async () => {
    const db = await fresh();
    await migrate(db, 'notes', [V1, V2, V3]);
    const before = await ledger(db);
    const err = await migrate(db, 'notes', [V1, V2]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'HRV_ERR_SCHEMA_NEWER', component: 'notes', databaseVersion: 3, codeVersion: 2 });
    expect((err as Error).message).toMatch(/"notes".*version 3.*newer than this code's 2/);
    expect(await ledger(db)).toEqual(before);
  });

  it('refuses a released migration whose SQL was edited, naming it, before applying any newer one', async () => {
    const db = await fresh();
    await migrate(db, 'notes', [V1, V2]);
    const edited: Migration = { ...V2, up: 'ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT \'\'' };
    const err = await migrate(db, 'notes', [V1, edited, V3]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'HRV_ERR_SCHEMA_DRIFT', component: 'notes' });
    expect((err as Error).message).toMatch(/"notes": migration 2 \("notes author"\).*checksum.*edited/);
    expect(await tableExists(db, 'tags')).toBe(false);
    expect((await ledger(db)).map((x) => x.version)).toEqual([1, 2]);
  });

  it('refuses a ledger with a hole in it', async () => {
    const db = await fresh();
    await migrate(db, 'notes', [V1, V2, V3]);
    await db.query("DELETE FROM schema_migrations WHERE component = 'notes' AND version = 2");
    await expect(migrate(db, 'notes', [V1, V2, V3])).rejects.toMatchObject({
      code: 'HRV_ERR_SCHEMA_DRIFT',
      message: expect.stringMatching(/version 3 without version 2/) as unknown,
    });
  });

  it('rolls a failing migration back whole, ledger row included, and keeps the ones before it', async () => {
    const db = await fresh();
    const bad: Migration = { version: 2, name: 'bad', up: 'CREATE TABLE half (x INTEGER); SELECT no_such_function();' };
    await expect(migrate(db, 'notes', [V1, bad])).rejects.toThrow(/no_such_function/);
    expect(await tableExists(db, 'half')).toBe(false);
    expect((await ledger(db)).map((x) => x.version)).toEqual([1]);
    expect((await migrate(db, 'notes', [V1, V2])).applied).toEqual([2]);
  });

  it('upgrades a database created by the old CREATE TABLE IF NOT EXISTS code, keeping its rows', async () => {
    const db = await fresh();
    // What the code before migrations did at every start: the same DDL, no ledger.
    await db.exec(V1.up);
    await db.query("INSERT INTO notes (id, body) VALUES (7, 'kept')");
    expect(await tableExists(db, 'schema_migrations')).toBe(false);
    expect(await migrate(db, 'notes', [V1, V2])).toEqual({ component: 'notes', applied: [1, 2], version: 2 });
    expect(await db.query('SELECT id, body, author FROM notes')).toEqual([{ id: 7, body: 'kept', author: null }]);
  });
});

describe('validateMigrations', () => {
  it('accepts 1, 2, 3… and returns the list frozen', () => {
    const list = validateMigrations('notes', [V1, V2, V3]);
    expect(list.map((m) => m.version)).toEqual([1, 2, 3]);
    expect(Object.isFrozen(list) && Object.isFrozen(list[0])).toBe(true);
  });

  it.each<[string, Migration[], RegExp]>([
    ['a gap', [V1, V3], /entry 2 has version 3, expected 2/],
    ['a duplicate', [V1, V2, { ...V3, version: 2 }], /version 2 appears twice/],
    ['out of order', [V2, V1], /entry 1 has version 2, expected 1/],
    ['not starting at 1', [{ ...V1, version: 0 }], /entry 1 has version 0, expected 1/],
    ['a fractional version', [V1, { ...V2, version: 1.5 }], /entry 2 has version 1.5/],
    ['an empty list', [], /empty/],
    ['an empty name', [{ ...V1, name: ' ' }], /version 1 has no name/],
    ['empty SQL', [{ ...V1, up: '\n' }], /version 1 has no SQL/],
  ])('rejects %s', (_what, list, message) => {
    let caught: unknown;
    try {
      validateMigrations('notes', list);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'HRV_ERR_MIGRATION_LIST', message: expect.stringMatching(message) as unknown });
  });

  it('rejects a malformed list in migrate before touching the database', async () => {
    const db = await fresh();
    await expect(migrate(db, 'notes', [V1, V3])).rejects.toMatchObject({ code: 'HRV_ERR_MIGRATION_LIST' });
    expect(await tableExists(db, 'schema_migrations')).toBe(false);
  });

  it('rejects a component name that is not a plain identifier', () => {
    expect(() => validateMigrations('Notes; DROP', [V1])).toThrow(/component names/);
  });
});
