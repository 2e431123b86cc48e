/**
 * One SQL dialect (PostgreSQL) on two engines: PGlite (PostgreSQL compiled to WASM, embedded, the
 * default) and a real PostgreSQL server through pg. Callers see only `SqlDb`.
 */
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { ConfigError } from '../errors.js';

/** A query runner; `transaction` runs `fn` atomically (all or nothing). */
export interface SqlDb {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  exec(sql: string): Promise<void>;
  transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /** 'pglite' or 'postgres', for reports. */
  readonly engine: 'pglite' | 'postgres';
}

/** The query side of a transaction; `exec` runs several statements without parameters (a migration's DDL). */
export interface SqlTx {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  exec(sql: string): Promise<void>;
}

class PgliteDb implements SqlDb {
  readonly engine = 'pglite' as const;
  constructor(private readonly db: PGlite) {}
  async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.db.query<T>(sql, params)).rows;
  }
  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }
  transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) =>
      fn({
        query: async <R>(s: string, p: unknown[] = []) => (await tx.query<R>(s, p)).rows,
        exec: async (s: string) => {
          await tx.exec(s);
        },
      }),
    );
  }
  close(): Promise<void> {
    return this.db.close();
  }
}

class PostgresDb implements SqlDb {
  readonly engine = 'postgres' as const;
  constructor(private readonly pool: pg.Pool) {}
  async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(sql, params)).rows as T[];
  }
  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }
  async transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const out = await fn({
        query: async <R>(s: string, p: unknown[] = []) => (await client.query(s, p)).rows as R[],
        // Without parameters pg sends the simple-query protocol, which takes several statements at once.
        exec: async (s: string) => {
          await client.query(s);
        },
      });
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined); // the original error is the one worth reporting
      throw err;
    } finally {
      client.release();
    }
  }
  close(): Promise<void> {
    return this.pool.end();
  }
}

/** How a server database is reached; ignored by the embedded engine (one connection, in-process). */
export interface SqlDbOptions {
  /** Most connections the pool opens to a PostgreSQL server (default 8). */
  poolMax?: number;
}

/** The pool size when none is configured: what the SP ran with before it was a setting. */
export const DEFAULT_POOL_MAX = 8;

/**
 * Opens a database: `postgres://…` or `postgresql://…` for a server, a directory path for an embedded
 * PGlite store that survives restarts, or `memory:` for a throw-away embedded one.
 */
export async function openSqlDb(location: string, options: SqlDbOptions = {}): Promise<SqlDb> {
  if (/^postgres(ql)?:\/\//.test(location)) {
    let url: URL;
    try {
      url = new URL(location);
    } catch (err) {
      throw new ConfigError(`database URL is not a valid URL: ${location}`, { cause: err });
    }
    const max = options.poolMax ?? DEFAULT_POOL_MAX;
    if (!Number.isInteger(max) || max < 1) throw new ConfigError(`database pool size must be a whole number of at least 1, not ${max}`);
    const pool = new pg.Pool({ connectionString: url.toString(), max });
    pool.on('error', () => undefined); // idle-client errors surface on the next query instead
    const db = new PostgresDb(pool);
    await db.query('SELECT 1');
    return db;
  }
  if (location === '') throw new ConfigError('database location is empty');
  const db = location === 'memory:' ? await PGlite.create() : await PGlite.create(location);
  return new PgliteDb(db);
}

/** Whether a table (or other relation) named `name` is on the search path. */
export async function tableExists(db: Pick<SqlDb, 'query'>, name: string): Promise<boolean> {
  const [row] = await db.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [name]);
  return Boolean(row?.t);
}

/** Bytes from a BYTEA column (pg gives Buffer, PGlite Uint8Array). */
export function bytes(value: unknown): Buffer {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError('expected a BYTEA value');
}

/** A database opened in a schema of its own; `drop()` removes the schema and closes the connection. */
export interface ScratchDb {
  db: SqlDb;
  drop(): Promise<void>;
}

/**
 * Opens `location` for tests and benchmarks: on PostgreSQL inside a fresh schema (named `prefix_…`), so
 * nothing else in that database is touched; otherwise the database itself, closed by `drop()`.
 */
export async function openScratchDb(location: string, prefix = 'hrvault_scratch'): Promise<ScratchDb> {
  if (!/^postgres(ql)?:\/\//.test(location)) {
    const db = await openSqlDb(location);
    return { db, drop: () => db.close() };
  }
  const schema = `${prefix}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const admin = await openSqlDb(location);
  try {
    await admin.exec(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.close();
  }
  const url = new URL(location);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const db = await openSqlDb(url.toString());
  return {
    db,
    async drop() {
      await db.exec(`DROP SCHEMA ${schema} CASCADE`);
      await db.close();
    },
  };
}
