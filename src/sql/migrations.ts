/**
 * Versioned schema migrations over `SqlDb`, the same code on PGlite and on a PostgreSQL server. A component
 * declares its schema as an ordered list (versions 1, 2, 3…); `migrate` brings a database up to the newest,
 * one transaction per migration, and refuses a database that a newer release wrote or whose applied
 * migrations are not the ones this code ships.
 */
import { createHash } from 'node:crypto';
import { HrvaultError } from '../errors.js';
import { tableExists, type SqlDb, type SqlTx } from './sql.js';

/**
 * One step of a component's schema: `up` is SQL (several statements allowed), applied once inside a transaction
 * (so no BEGIN/COMMIT of its own, no CREATE INDEX CONCURRENTLY), and never edited after release.
 */
export interface Migration {
  version: number;
  name: string;
  up: string;
}

/** What `migrate` did: the versions it applied (in order; empty when the schema was current) and the version now. */
export interface MigrationResult {
  component: string;
  applied: number[];
  version: number;
}

/** The database holds a schema version this code does not know: a newer release wrote it. */
export class SchemaNewerError extends HrvaultError {
  readonly component: string;
  readonly databaseVersion: number;
  readonly codeVersion: number;
  constructor(component: string, databaseVersion: number, codeVersion: number) {
    super(
      'HRV_ERR_SCHEMA_NEWER',
      `schema of "${component}": the database is at version ${databaseVersion}, newer than this code's ${codeVersion}; ` +
        `refusing to start (run a release that knows version ${databaseVersion})`,
    );
    this.name = 'SchemaNewerError';
    this.component = component;
    this.databaseVersion = databaseVersion;
    this.codeVersion = codeVersion;
  }
}

/** The migrations recorded in the database are not the ones this code ships (an edited or missing migration). */
export class SchemaDriftError extends HrvaultError {
  readonly component: string;
  constructor(component: string, problem: string) {
    super('HRV_ERR_SCHEMA_DRIFT', `schema of "${component}": ${problem}; refusing to start`);
    this.name = 'SchemaDriftError';
    this.component = component;
  }
}

/** A component's migration list is malformed: a programming error, found before any database is touched. */
export class MigrationListError extends HrvaultError {
  constructor(component: string, problem: string) {
    super('HRV_ERR_MIGRATION_LIST', `migrations of "${component}": ${problem}`);
    this.name = 'MigrationListError';
  }
}

/** The ledger of every component in one database; its own shape is fixed (it cannot migrate itself). */
const LEDGER = `CREATE TABLE schema_migrations (
  component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, checksum TEXT NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (component, version))`;

/**
 * One fixed key for every hrvault migrator on a server: advisory locks are per database, not per schema, so
 * two components (or two test schemas) in one database take turns, which costs nothing at start-up and also
 * covers the ledger's own CREATE TABLE (two sessions creating it at once can otherwise collide).
 */
const LOCK_KEY = '7283706869820101'; // arbitrary; bigint as text so neither driver meets a JS bigint

/** Hex SHA-256 of a migration's SQL, byte for byte: any edit of a released migration shows. */
export function migrationChecksum(m: Pick<Migration, 'up'>): string {
  return createHash('sha256').update(m.up, 'utf8').digest('hex');
}

/** A component's name is a ledger key: lower-case letters, digits, _ or -, starting with a letter. */
function checkComponent(component: string): void {
  if (!/^[a-z][a-z0-9_-]{0,62}$/.test(component)) throw new MigrationListError(component, 'component names are lower-case letters, digits, _ or -');
}

/** Lists that validateMigrations returned; migrate checks any other list itself. */
const validated = new WeakSet<readonly Migration[]>();

/**
 * Checks a component's list once, at declaration (versions exactly 1, 2, 3… in order, non-empty names and
 * SQL) and returns it frozen; throws MigrationListError (HRV_ERR_MIGRATION_LIST) otherwise.
 */
export function validateMigrations(component: string, list: readonly Migration[]): readonly Migration[] {
  checkComponent(component);
  if (list.length === 0) throw new MigrationListError(component, 'the list is empty');
  list.forEach((m, i) => {
    if (!Number.isInteger(m.version) || m.version !== i + 1) {
      const seen = list.slice(0, i).some((p) => p.version === m.version);
      throw new MigrationListError(
        component,
        seen ? `version ${m.version} appears twice` : `entry ${i + 1} has version ${m.version}, expected ${i + 1} (versions are 1, 2, 3… with no gaps, in order)`,
      );
    }
    if (m.name.trim() === '') throw new MigrationListError(component, `version ${m.version} has no name`);
    if (m.up.trim() === '') throw new MigrationListError(component, `version ${m.version} has no SQL`);
  });
  const frozen = Object.freeze(list.map((m) => Object.freeze({ version: m.version, name: m.name, up: m.up })));
  validated.add(frozen);
  return frozen;
}

interface LedgerRow {
  version: number;
  name: string;
  checksum: string;
}

/** Throws when the recorded versions are newer than, or differ from, `list`; returns how many are applied. */
function checkLedger(component: string, list: readonly Migration[], rows: LedgerRow[]): number {
  const newest = rows.length > 0 ? Math.max(...rows.map((r) => r.version)) : 0;
  if (newest > list.length) throw new SchemaNewerError(component, newest, list.length);
  rows.forEach((r, i) => {
    // Rows come ordered by version and this migrator only ever records 1..k: a hole means the ledger was edited.
    if (r.version !== i + 1) throw new SchemaDriftError(component, `the database records version ${r.version} without version ${i + 1}`);
    const m = list[i]!;
    const want = migrationChecksum(m);
    if (r.checksum !== want) {
      throw new SchemaDriftError(
        component,
        `migration ${r.version} ("${r.name}") applied to this database has checksum ${r.checksum.slice(0, 12)}…, ` +
          `this code's ("${m.name}") has ${want.slice(0, 12)}… (a released migration was edited)`,
      );
    }
  });
  return rows.length;
}

/**
 * One step under the lock: check the ledger, then apply the next missing migration if there is one. The lock
 * is taken first, so the ledger read after it sees every migration another process committed while we waited.
 */
async function step(tx: SqlTx, component: string, list: readonly Migration[]): Promise<{ applied?: number; version: number }> {
  await tx.query(`SELECT pg_advisory_xact_lock(${LOCK_KEY}::bigint)`);
  if (!(await tableExists(tx, 'schema_migrations'))) await tx.exec(LEDGER);
  const rows = await tx.query<LedgerRow>('SELECT version, name, checksum FROM schema_migrations WHERE component = $1 ORDER BY version', [component]);
  const current = checkLedger(component, list, rows);
  const next = list[current];
  if (!next) return { version: current };
  await tx.exec(next.up);
  await tx.query('INSERT INTO schema_migrations (component, version, name, checksum) VALUES ($1, $2, $3, $4)', [
    component,
    next.version,
    next.name,
    migrationChecksum(next),
  ]);
  return { applied: next.version, version: next.version };
}

/**
 * Brings `component`'s schema in `db` up to the newest of `list`, each missing migration in its own transaction
 * together with its ledger row; throws SchemaNewerError or SchemaDriftError (before applying anything) when the
 * database is not one this code may run on. Safe to call from several processes at once against one server.
 */
export async function migrate(db: SqlDb, component: string, list: readonly Migration[]): Promise<MigrationResult> {
  checkComponent(component);
  const checked = validated.has(list) ? list : validateMigrations(component, list);
  const applied: number[] = [];
  for (;;) {
    const r = await db.transaction((tx) => step(tx, component, checked));
    if (r.applied === undefined) return { component, applied, version: r.version };
    applied.push(r.applied);
  }
}

/** The version of `component`'s schema recorded in `db` (0: none, or no ledger yet). */
export async function schemaVersion(db: SqlDb, component: string): Promise<number> {
  if (!(await tableExists(db, 'schema_migrations'))) return 0;
  const [row] = await db.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations WHERE component = $1', [component]);
  return row?.v ?? 0;
}
