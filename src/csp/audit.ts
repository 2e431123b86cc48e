/**
 * The CSP's audit log: every read, write, export, denial and key event, hash-chained with an HMAC under a
 * key only the CSP holds, so an edit, deletion or reordering anywhere breaks the chain; the newest link is
 * also written to an anchor the verifier compares with, which catches a cut-off tail.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { SqlDb, SqlTx } from '../sql/index.js';
import type { AuditQuery } from '../contracts/index.js';

export interface AuditEvent {
  actor: string;
  action: string;
  target?: string;
  outcome: 'ok' | 'denied' | 'error';
  /** Free-form; an entry that stored records names them as `stored: {ref, first, last}` (patient ref, seq range). */
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
  seq INTEGER PRIMARY KEY, t_ms BIGINT NOT NULL, entry TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS csp_audit_checkpoint (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL, mac TEXT NOT NULL);`;

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
  async append(event: AuditEvent): Promise<AuditEntry> {
    const { entries } = await this.appendWith([event], () => Promise.resolve());
    return entries[0]!;
  }

  /**
   * Appends `events` and runs `fn` in ONE transaction of the CSP's database, so the bookkeeping `fn` writes
   * (a record's index rows, say) and the entries that account for it commit together or not at all. `fn`
   * gets the sequence numbers the entries will have, and must use only `tx` (the database is otherwise held).
   */
  appendWith<T>(events: AuditEvent[], fn: (tx: SqlTx, seqs: number[]) => Promise<T>): Promise<{ entries: AuditEntry[]; result: T }> {
    const next = this.#tail.then(async () => {
      const out = await this.#db.transaction(async (tx) => {
        const [last] = await tx.query<{ seq: number; hash: string }>('SELECT seq, hash FROM csp_audit ORDER BY seq DESC LIMIT 1');
        let seq = last?.seq ?? 0;
        let prev = last?.hash ?? GENESIS;
        const seqs = events.map((_, i) => seq + 1 + i);
        const result = await fn(tx, seqs);
        const entries: AuditEntry[] = [];
        for (const event of events) {
          seq += 1;
          const tMs = Date.now();
          const entry = JSON.stringify(event);
          const hash = this.#link(prev, seq, tMs, entry);
          await tx.query('INSERT INTO csp_audit (seq, t_ms, entry, prev, hash) VALUES ($1, $2, $3, $4, $5)', [seq, tMs, entry, prev, hash]);
          entries.push({ ...event, seq, t_ms: tMs, hash });
          prev = hash;
        }
        return { entries, result };
      });
      const last = out.entries.at(-1);
      // After the commit: a crash before this write leaves the anchor behind the table, which verify accepts
      // (the entries past it carry valid MACs); an anchor AHEAD of the table is what truncation leaves.
      if (last) await this.#anchor.write({ seq: last.seq, hash: last.hash });
      return out;
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

  /**
   * Verifies the chain: every entry's MAC and link, the anchor (a log cut short is refused), and that every
   * record in the CSP's index is accounted for by the entry that stored it. `incremental` starts after the
   * last verified entry (a MAC'd checkpoint kept in the CSP's database) instead of at entry 1: edits below
   * the checkpoint are then left to a full pass (the CLI's `audit verify`, `GET /audit/verify`).
   */
  async verify(opts: { incremental?: boolean } = {}): Promise<AuditVerification> {
    const checkpoint = opts.incremental ? await this.#checkpoint() : undefined;
    const start = checkpoint ?? { seq: 0, hash: GENESIS };
    const rows = await this.#db.query<{ seq: number; t_ms: string | number; entry: string; prev: string; hash: string }>(
      'SELECT seq, t_ms, entry, prev, hash FROM csp_audit WHERE seq > $1 ORDER BY seq',
      [start.seq],
    );
    let prev = start.hash;
    let expectedSeq = start.seq + 1;
    const total = start.seq + rows.length;
    for (const r of rows) {
      if (r.seq !== expectedSeq) return { ok: false, entries: total, seq: expectedSeq, problem: `entry ${expectedSeq} is missing` };
      if (r.prev !== prev) return { ok: false, entries: total, seq: r.seq, problem: `entry ${r.seq} does not follow entry ${r.seq - 1}` };
      const want = Buffer.from(this.#link(prev, r.seq, Number(r.t_ms), r.entry), 'hex');
      const got = Buffer.from(r.hash, 'hex');
      if (got.length !== want.length || !timingSafeEqual(got, want)) {
        return { ok: false, entries: total, seq: r.seq, problem: `entry ${r.seq} was altered` };
      }
      prev = r.hash;
      expectedSeq++;
    }
    const lastSeq = expectedSeq - 1;
    const anchor = await this.#anchor.read();
    if (anchor) {
      // Behind the table is what a crash between a commit and the anchor's write leaves; ahead is a cut tail.
      const [at] = anchor.seq <= lastSeq && anchor.seq > 0 ? await this.#db.query<{ hash: string }>('SELECT hash FROM csp_audit WHERE seq = $1', [anchor.seq]) : [];
      if (anchor.seq > lastSeq || (anchor.seq > 0 && at?.hash !== anchor.hash)) {
        return { ok: false, entries: total, seq: anchor.seq, problem: `the log ends at entry ${lastSeq} but the anchor names entry ${anchor.seq}: entries were removed from the end` };
      }
    }
    const uncovered = await this.#uncoveredRecords(start.seq);
    if (uncovered) {
      return { ok: false, entries: total, problem: `${uncovered.count} stored record(s) have no audit entry (first: patient ${uncovered.patient_ref} record ${uncovered.seq})` };
    }
    if (lastSeq > start.seq) await this.#saveCheckpoint({ seq: lastSeq, hash: prev });
    return { ok: true, entries: total };
  }

  #checkpointMac(c: { seq: number; hash: string }): string {
    return createHmac('sha256', this.#key).update(`checkpoint|${c.seq}|${c.hash}`).digest('hex');
  }

  /** The last verified entry, if its MAC holds and the entry is still the one verified. */
  async #checkpoint(): Promise<{ seq: number; hash: string } | undefined> {
    const [c] = await this.#db.query<{ seq: number; hash: string; mac: string }>('SELECT seq, hash, mac FROM csp_audit_checkpoint WHERE id = 1');
    if (!c) return undefined;
    const want = Buffer.from(this.#checkpointMac(c), 'hex');
    const got = Buffer.from(c.mac, 'hex');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
    const [row] = await this.#db.query<{ hash: string }>('SELECT hash FROM csp_audit WHERE seq = $1', [c.seq]);
    return row?.hash === c.hash ? { seq: c.seq, hash: c.hash } : undefined;
  }

  async #saveCheckpoint(c: { seq: number; hash: string }): Promise<void> {
    await this.#db.query(
      'INSERT INTO csp_audit_checkpoint (id, seq, hash, mac) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, mac = EXCLUDED.mac',
      [c.seq, c.hash, this.#checkpointMac(c)],
    );
  }

  /**
   * Index rows (the CSP's list of stored records) that no audit entry accounts for: each row names the entry
   * that stored it, and that entry's `detail.stored` must cover the row's patient and sequence number. Rows
   * named by entries at or below `afterSeq` were checked by an earlier pass.
   */
  async #uncoveredRecords(afterSeq: number): Promise<{ count: number; patient_ref: string; seq: number } | undefined> {
    const [exists] = await this.#db.query<{ t: string | null }>("SELECT to_regclass('csp_record_index')::text AS t");
    if (!exists?.t) return undefined;
    const rows = await this.#db.query<{ patient_ref: string; seq: number; n: number | string }>(
      `SELECT i.patient_ref, i.seq, count(*) OVER () AS n FROM csp_record_index i LEFT JOIN csp_audit a ON a.seq = i.audit_seq
       WHERE (i.audit_seq IS NULL OR i.audit_seq > $1)
         AND (a.seq IS NULL OR (a.entry::jsonb #>> '{detail,stored,ref}') IS DISTINCT FROM i.patient_ref
              OR i.seq < (a.entry::jsonb #>> '{detail,stored,first}')::int OR i.seq > (a.entry::jsonb #>> '{detail,stored,last}')::int)
       ORDER BY i.patient_ref, i.seq LIMIT 1`,
      [afterSeq],
    );
    const r = rows[0];
    return r ? { count: Number(r.n), patient_ref: r.patient_ref, seq: r.seq } : undefined;
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
