/**
 * The migrator against a PostgreSQL server (127.0.0.1:5432 on the development machines and CI; skipped with a
 * printed reason where none answers): concurrent starts apply each migration exactly once, the SP refuses a
 * schema a newer release wrote, and the pool size setting bounds the connections. Everything happens in a
 * schema of this run's own, dropped at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../crypto/index.js';
import { startSp } from '../sp/index.js';
import { PG_URL, postgresReachable } from '../test-support/access/postgres.js';
import { migrate, schemaVersion, type Migration } from './migrations.js';
import { openSqlDb, type SqlDb } from './sql.js';

const reachable = await postgresReachable();

describe.skipIf(!reachable)('migrate (PostgreSQL)', () => {
  const schema = `hrv_migrate_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const opened: SqlDb[] = [];
  let admin: SqlDb;

  /** A URL whose connections work inside this run's schema (`tag` names them in pg_stat_activity). */
  function urlIn(tag = 'hrv-migrate-test'): string {
    const url = new URL(PG_URL);
    url.searchParams.set('options', `-c search_path=${schema}`);
    url.searchParams.set('application_name', tag);
    return url.toString();
  }
  async function connect(options: { poolMax?: number; tag?: string } = {}): Promise<SqlDb> {
    const db = await openSqlDb(urlIn(options.tag), options.poolMax === undefined ? {} : { poolMax: options.poolMax });
    opened.push(db);
    return db;
  }

  beforeAll(async () => {
    admin = await openSqlDb(PG_URL);
    await admin.exec(`CREATE SCHEMA ${schema}`);
  });
  afterAll(async () => {
    for (const db of opened) await db.close().catch(() => undefined); // some were closed by their test
    if (admin) {
      await admin.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.close();
    }
  });

  it('three processes starting at once: every migration applied exactly once, all three end at the newest version', async () => {
    // Each migration records which session applied it and sleeps, so unserialised starts would overlap.
    const list: Migration[] = [
      { version: 1, name: 'hits', up: 'CREATE TABLE race_hits (version INTEGER NOT NULL, pid INTEGER NOT NULL); INSERT INTO race_hits VALUES (1, pg_backend_pid()); SELECT pg_sleep(0.3);' },
      { version: 2, name: 'second', up: 'INSERT INTO race_hits VALUES (2, pg_backend_pid()); SELECT pg_sleep(0.3);' },
      { version: 3, name: 'third', up: 'ALTER TABLE race_hits ADD COLUMN note TEXT; INSERT INTO race_hits VALUES (3, pg_backend_pid());' },
    ];
    const dbs = await Promise.all([connect(), connect(), connect()]);
    const results = await Promise.all(dbs.map((db) => migrate(db, 'race', list)));
    expect(results.flatMap((r) => r.applied).sort((a, b) => a - b)).toEqual([1, 2, 3]);
    expect(results.every((r) => r.version === 3)).toBe(true);
    const hits = await dbs[0]!.query<{ version: number; n: string }>('SELECT version, count(*) AS n FROM race_hits GROUP BY version ORDER BY version');
    expect(hits.map((h) => [h.version, Number(h.n)])).toEqual([[1, 1], [2, 1], [3, 1]]);
    const ledger = await dbs[0]!.query<{ version: number }>("SELECT version FROM schema_migrations WHERE component = 'race' ORDER BY version");
    expect(ledger.map((r) => r.version)).toEqual([1, 2, 3]);
    // A later start, again concurrent, applies nothing.
    const again = await Promise.all(dbs.map((db) => migrate(db, 'race', list)));
    expect(again.map((r) => r.applied)).toEqual([[], [], []]);
  });

  it('the SP on PostgreSQL records its schema, and refuses to start on one a newer release wrote', async () => {
    const cspPublicKey = generateIdentity('csp').publicKey;
    const first = await startSp({ spDb: urlIn(), cspPublicKey });
    expect(await schemaVersion(first.db, 'sp')).toBe(1);
    await first.db.query("INSERT INTO schema_migrations (component, version, name, checksum) VALUES ('sp', 2, 'from the future', 'x')");
    await first.close();
    const err = await startSp({ spDb: urlIn(), cspPublicKey }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'HRV_ERR_SCHEMA_NEWER', component: 'sp', databaseVersion: 2, codeVersion: 1 });
    expect((err as Error).message).toMatch(/"sp".*version 2.*newer than this code's 1/);
  });

  it('poolMax bounds the connections a database opens to the server', async () => {
    const tag = `hrv-pool-${process.pid}`;
    const db = await connect({ poolMax: 2, tag });
    const busy = Promise.all(Array.from({ length: 6 }, () => db.query('SELECT pg_sleep(0.4)')));
    // Sampled while the six queries queue on the pool: never more than two sessions carry the tag.
    let most = 0;
    for (let i = 0; i < 5; i++) {
      const [row] = await admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [tag]);
      most = Math.max(most, Number(row!.n));
      await admin.query('SELECT pg_sleep(0.1)');
    }
    await busy;
    expect(most).toBe(2);
  });
});
