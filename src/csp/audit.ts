/**
 * The CSP's audit log: every read, write, export, denial and key event, hash-chained with an HMAC under a
 * key only the CSP holds, so an edit, deletion or reordering anywhere breaks the chain; the newest link is
 * also written to an anchor the verifier compares with, which catches a cut-off tail.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { SqlDb } from '../sql/index.js';
import type { AuditQuery } from '../contracts/index.js';

export interface AuditEvent {
  actor: string;
  action: string;
  target?: string;
  outcome: 'ok' | 'denied' | 'error';
  detail?: Record<string, unknown>;
  /** Break-glass and other entries that need review. */
  flagged?: boolean;
}

export interface AuditEntry extends AuditEvent {
  seq: number;
  t_ms: number;
  hash: string;
}

export interface AuditVerification {
  ok: boolean;
  entries: number;
  problem?: string;
  seq?: number;
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS csp_audit (
  seq INTEGER PRIMARY KEY, t_ms BIGINT NOT NULL, entry TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL)`;

const GENESIS = '0'.repeat(64);

/** Where the newest link is anchored outside the table (a file in production, memory in tests). */
export interface AuditAnchor {
  read(): Promise<{ seq: number; hash: string } | undefined>;
  write(head: { seq: number; hash: string }): Promise<void>;
}

export class AuditLog {
  readonly #db: SqlDb;
  readonly #key: Buffer;
  readonly #anchor: AuditAnchor;
  #tail: Promise<unknown> = Promise.resolve();

  private constructor(db: SqlDb, key: Buffer, anchor: AuditAnchor) {
    this.#db = db;
    this.#key = key;
    this.#anchor = anchor;
  }

  /** Opens the log on the CSP's database; `key` is the CSP's audit MAC key (32 bytes). */
  static async open(db: SqlDb, key: Buffer, anchor: AuditAnchor): Promise<AuditLog> {
    await db.exec(SCHEMA);
    return new AuditLog(db, key, anchor);
  }

  #link(prev: string, seq: number, tMs: number, entry: string): string {
    return createHmac('sha256', this.#key).update(`${prev}|${seq}|${tMs}|${entry}`).digest('hex');
  }

  /** Appends an event; appends are serialised so the chain never forks. */
  append(event: AuditEvent): Promise<AuditEntry> {
    const next = this.#tail.then(async () => {
      const [last] = await this.#db.query<{ seq: number; hash: string }>('SELECT seq, hash FROM csp_audit ORDER BY seq DESC LIMIT 1');
      const seq = (last?.seq ?? 0) + 1;
      const prev = last?.hash ?? GENESIS;
      const tMs = Date.now();
      const entry = JSON.stringify(event);
      const hash = this.#link(prev, seq, tMs, entry);
      await this.#db.query('INSERT INTO csp_audit (seq, t_ms, entry, prev, hash) VALUES ($1, $2, $3, $4, $5)', [seq, tMs, entry, prev, hash]);
      await this.#anchor.write({ seq, hash });
      return { ...event, seq, t_ms: tMs, hash };
    });
    this.#tail = next.catch(() => undefined); // a failed append must not block the ones after it
    return next;
  }

  /** Reads entries, newest last, optionally only those at or after `fromSeq`. */
  async entries(fromSeq = 1, limit = 1000): Promise<AuditEntry[]> {
    const rows = await this.#db.query<{ seq: number; t_ms: string | number; entry: string; hash: string }>(
      'SELECT seq, t_ms, entry, hash FROM csp_audit WHERE seq >= $1 ORDER BY seq LIMIT $2',
      [fromSeq, limit],
    );
    return rows.map((r) => ({ ...(JSON.parse(r.entry) as AuditEvent), seq: r.seq, t_ms: Number(r.t_ms), hash: r.hash }));
  }

  /** Entries newest first matching the filter, one page, and how many match in all. */
  async search(q: AuditQuery): Promise<{ total: number; items: AuditEntry[] }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    // LIKE patterns are built from the caller's text: its own wildcards are escaped.
    const like = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);
    if (q.q) add('entry ILIKE ?', `%${like(q.q)}%`);
    if (q.actor) add("(entry::jsonb ->> 'actor') = ?", q.actor);
    if (q.action) add("(entry::jsonb ->> 'action') LIKE ?", `${like(q.action)}%`);
    if (q.outcome) add("(entry::jsonb ->> 'outcome') = ?", q.outcome);
    if (q.from_ms !== undefined) add('t_ms >= ?', q.from_ms);
    if (q.to_ms !== undefined) add('t_ms < ?', q.to_ms);
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const [{ c } = { c: 0 }] = await this.#db.query<{ c: number | string }>(`SELECT count(*) AS c FROM csp_audit ${w}`, params);
    const rows = await this.#db.query<{ seq: number; t_ms: string | number; entry: string; hash: string }>(
      `SELECT seq, t_ms, entry, hash FROM csp_audit ${w} ORDER BY seq DESC OFFSET $${params.length + 1} LIMIT $${params.length + 2}`,
      [...params, Math.max(0, q.offset ?? 0), Math.min(Math.max(1, q.limit ?? 100), 1000)],
    );
    return { total: Number(c), items: rows.map((r) => ({ ...(JSON.parse(r.entry) as AuditEvent), seq: r.seq, t_ms: Number(r.t_ms), hash: r.hash })) };
  }

  /** Recomputes the whole chain; reports the first entry that was edited, removed or moved. */
  async verify(): Promise<AuditVerification> {
    const rows = await this.#db.query<{ seq: number; t_ms: string | number; entry: string; prev: string; hash: string }>(
      'SELECT seq, t_ms, entry, prev, hash FROM csp_audit ORDER BY seq',
    );
    let prev = GENESIS;
    let expectedSeq = 1;
    for (const r of rows) {
      if (r.seq !== expectedSeq) return { ok: false, entries: rows.length, seq: expectedSeq, problem: `entry ${expectedSeq} is missing` };
      if (r.prev !== prev) return { ok: false, entries: rows.length, seq: r.seq, problem: `entry ${r.seq} does not follow entry ${r.seq - 1}` };
      const want = Buffer.from(this.#link(prev, r.seq, Number(r.t_ms), r.entry), 'hex');
      const got = Buffer.from(r.hash, 'hex');
      if (got.length !== want.length || !timingSafeEqual(got, want)) {
        return { ok: false, entries: rows.length, seq: r.seq, problem: `entry ${r.seq} was altered` };
      }
      prev = r.hash;
      expectedSeq++;
    }
    const anchor = await this.#anchor.read();
    const lastSeq = expectedSeq - 1;
    if (anchor && (anchor.seq !== lastSeq || anchor.hash !== prev)) {
      return { ok: false, entries: rows.length, seq: anchor.seq, problem: `the log ends at entry ${lastSeq} but the anchor names entry ${anchor.seq}: entries were removed from the end` };
    }
    return { ok: true, entries: rows.length };
  }
}

/** An anchor kept in memory (tests, and the embedded demo when no data directory is given). */
export function memoryAnchor(): AuditAnchor {
  let head: { seq: number; hash: string } | undefined;
  return {
    read: () => Promise.resolve(head),
    write: (h) => {
      head = h;
      return Promise.resolve();
    },
  };
}

/** An anchor in a file beside the CSP's data, replaced atomically on every append. */
export function fileAnchor(path: string): AuditAnchor {
  return {
    async read() {
      try {
        const parsed = JSON.parse(await readFile(path, 'utf8')) as { seq?: unknown; hash?: unknown };
        if (typeof parsed.seq === 'number' && typeof parsed.hash === 'string') return { seq: parsed.seq, hash: parsed.hash };
        return undefined;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    },
    async write(head) {
      const tmp = `${path}.tmp`;
      await writeFile(tmp, JSON.stringify(head), { mode: 0o600 });
      await rename(tmp, path);
    },
  };
}
