/**
 * The CSP's audit log: every read, write, export, denial and key event, hash-chained with an HMAC under a
 * key only the CSP holds, so an edit, deletion or reordering anywhere breaks the chain. The newest link is
 * also kept in an anchor outside the table (a file in the CSP's own data directory), MAC'd under the same
 * key: the log must end exactly where the anchor says, so a cut-off tail, a deleted or forged anchor, and an
 * anchor rolled back under a longer log all fail verification, and the CSP refuses to start on them.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileDurableAsync } from '../durable-file.js';
import { HrvaultError } from '../errors.js';
import { migrate, tableExists, type SqlDb, type SqlTx } from '../sql/index.js';
import { CSP_MIGRATIONS } from './schema.js';
import type { AuditQuery } from '../contracts/index.js';

/** The audit log failed verification (at start-up: its end does not match its anchor). */
export class AuditIntegrityError extends HrvaultError {
  constructor(message: string) {
    super('HRV_ERR_AUDIT', message);
    this.name = 'AuditIntegrityError';
  }
}

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

const GENESIS = '0'.repeat(64);

/**
 * Where the anchor is kept outside the table (a file in the CSP's data directory, memory in tests): an opaque
 * text the log MACs and checks itself. `write` must replace the whole text atomically and durably.
 */
export interface AuditAnchor {
  read(): Promise<string | undefined>;
  write(text: string): Promise<void>;
}

interface Link {
  seq: number;
  hash: string;
}

/**
 * What the anchor vouches for: the log ends at `head`, or at `pending` — the entries of an append written to
 * the anchor just before their commit, so a crash on either side of the commit leaves a log the anchor names.
 */
interface AnchorState {
  head: Link;
  pending?: Link;
}

const linkSchema = z.strictObject({ seq: z.number().int().min(0), hash: z.string().regex(/^[0-9a-f]{64}$/) });
const anchorSchema = z.strictObject({ v: z.literal(2), head: linkSchema, pending: linkSchema.optional(), mac: z.string().regex(/^[0-9a-f]{64}$/) });

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

  /**
   * Opens the log on the CSP's database; `key` is the CSP's audit MAC key (32 bytes). A brand-new log (its
   * table did not exist) is created together with its anchor; any other log must end where its anchor says,
   * or this throws AuditIntegrityError (HRV_ERR_AUDIT): a CSP that appended on would overwrite the evidence.
   * `check: false` opens without that check (the verifier, which reports the problem instead). Opening brings
   * the CSP's schema up to date (src/csp/schema.ts); `isNew` says whether the table was absent before this start,
   * for a caller that migrated first (CspService.create), and is looked up here otherwise.
   */
  static async open(db: SqlDb, key: Buffer, anchor: AuditAnchor, opts: { check?: boolean; isNew?: boolean } = {}): Promise<AuditLog> {
    const isNew = opts.isNew ?? !(await tableExists(db, 'csp_audit'));
    await migrate(db, 'csp', CSP_MIGRATIONS);
    const log = new AuditLog(db, key, anchor);
    if (isNew && (await anchor.read()) === undefined) await log.#writeAnchor({ head: { seq: 0, hash: GENESIS } });
    if (opts.check === false) return log;
    const end = await log.#end();
    const problem = await log.#endProblem(end);
    if (problem) throw new AuditIntegrityError(`audit log: ${problem}`);
    // A crash after an append's commit left it pending in the anchor: it is the head now.
    const state = (await log.#readAnchor()) as AnchorState;
    if (state.pending || state.head.seq !== end.seq) await log.#writeAnchor({ head: end });
    return log;
  }

  #anchorMac(state: AnchorState): string {
    const p = state.pending;
    return createHmac('sha256', this.#key)
      .update(`anchor|v2|${state.head.seq}|${state.head.hash}|${p ? `${p.seq}|${p.hash}` : '-'}`)
      .digest('hex');
  }

  async #writeAnchor(state: AnchorState): Promise<void> {
    await this.#anchor.write(JSON.stringify({ v: 2, head: state.head, ...(state.pending ? { pending: state.pending } : {}), mac: this.#anchorMac(state) }));
  }

  /** The anchor if present and authentic; 'missing' or 'forged' otherwise. */
  async #readAnchor(): Promise<AnchorState | 'missing' | 'forged'> {
    const text = await this.#anchor.read();
    if (text === undefined) return 'missing';
    let parsed: z.infer<typeof anchorSchema>;
    try {
      const r = anchorSchema.safeParse(JSON.parse(text));
      if (!r.success) return 'forged';
      parsed = r.data;
    } catch {
      return 'forged';
    }
    const state: AnchorState = { head: parsed.head, ...(parsed.pending ? { pending: parsed.pending } : {}) };
    const want = Buffer.from(this.#anchorMac(state), 'hex');
    const got = Buffer.from(parsed.mac, 'hex');
    return got.length === want.length && timingSafeEqual(got, want) ? state : 'forged';
  }

  /** The newest entry in the table (seq 0 and the genesis value when empty). */
  async #end(q: Pick<SqlTx, 'query'> = this.#db): Promise<Link> {
    const [last] = await q.query<Link>('SELECT seq, hash FROM csp_audit ORDER BY seq DESC LIMIT 1');
    return last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: GENESIS };
  }

  /** Why the log's end `end` is not what the anchor vouches for, or undefined when it is. */
  async #endProblem(end: Link): Promise<string | undefined> {
    const anchor = await this.#readAnchor();
    if (anchor === 'missing') return `the anchor is missing: nothing vouches that the log ends at entry ${end.seq}`;
    if (anchor === 'forged') return 'the anchor fails its MAC (forged or corrupted): nothing vouches for the end of the log';
    const at = (l: Link | undefined) => l !== undefined && l.seq === end.seq && l.hash === end.hash;
    if (at(anchor.head) || at(anchor.pending)) return undefined;
    if (end.seq < anchor.head.seq) return `the log ends at entry ${end.seq} but the anchor names entry ${anchor.head.seq}: entries were removed from the end`;
    if (end.seq > (anchor.pending?.seq ?? anchor.head.seq)) {
      return `the log runs on to entry ${end.seq} past its anchor (entry ${anchor.head.seq}): the anchor was rolled back, or entries were added behind the CSP's back`;
    }
    return `entry ${end.seq} is not the entry the anchor names: the end of the log was rewritten`;
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
        const head = { seq, hash: prev };
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
        // Before the commit, the anchor names both ends: a crash before the commit leaves the log at `head`, a
        // crash after it at `pending`, and either verifies; a failed anchor write rolls the entries back.
        if (entries.length > 0) await this.#writeAnchor({ head, pending: { seq, hash: prev } });
        return { entries, result };
      });
      const last = out.entries.at(-1);
      // The entries are committed and the anchor already vouches for them (as pending): a failure to tidy it up
      // must not report the append as failed. The next append's pre-commit write rolls back if the disk is gone.
      if (last) await this.#writeAnchor({ head: { seq: last.seq, hash: last.hash } }).catch(() => undefined);
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
    const walk = { seq: start.seq, hash: start.hash };
    const first = await this.#walk(walk);
    if (first) return first;
    // The end is compared with the anchor with appends held, so one in flight is not mistaken for a cut tail;
    // entries appended since the first pass are walked first.
    const end = await this.#serialized(async () => {
      const rest = await this.#walk(walk);
      return rest ?? { problem: await this.#endProblem({ seq: walk.seq, hash: walk.hash }) };
    });
    if ('ok' in end) return end;
    if (end.problem) return { ok: false, entries: walk.seq, seq: walk.seq, problem: end.problem };
    const uncovered = await this.#uncoveredRecords(start.seq);
    if (uncovered) {
      return { ok: false, entries: walk.seq, problem: `${uncovered.count} stored record(s) have no audit entry (first: patient ${uncovered.patient_ref} record ${uncovered.seq})` };
    }
    if (walk.seq > start.seq) await this.#saveCheckpoint({ seq: walk.seq, hash: walk.hash });
    return { ok: true, entries: walk.seq };
  }

  /** Runs `fn` when no append is in flight, holding later appends until it is done. */
  #serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn);
    this.#tail = next.catch(() => undefined);
    return next;
  }

  /** Checks every entry after `at` (its MAC and link) and advances `at` to the last; a failed verification on a problem. */
  async #walk(at: Link): Promise<AuditVerification | undefined> {
    const rows = await this.#db.query<{ seq: number; t_ms: string | number; entry: string; prev: string; hash: string }>(
      'SELECT seq, t_ms, entry, prev, hash FROM csp_audit WHERE seq > $1 ORDER BY seq',
      [at.seq],
    );
    const total = at.seq + rows.length;
    for (const r of rows) {
      const expectedSeq = at.seq + 1;
      if (r.seq !== expectedSeq) return { ok: false, entries: total, seq: expectedSeq, problem: `entry ${expectedSeq} is missing` };
      if (r.prev !== at.hash) return { ok: false, entries: total, seq: r.seq, problem: `entry ${r.seq} does not follow entry ${r.seq - 1}` };
      const want = Buffer.from(this.#link(at.hash, r.seq, Number(r.t_ms), r.entry), 'hex');
      const got = Buffer.from(r.hash, 'hex');
      if (got.length !== want.length || !timingSafeEqual(got, want)) {
        return { ok: false, entries: total, seq: r.seq, problem: `entry ${r.seq} was altered` };
      }
      at.seq = r.seq;
      at.hash = r.hash;
    }
    return undefined;
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
    if (!(await tableExists(this.#db, 'csp_record_index'))) return undefined;
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
  let text: string | undefined;
  return {
    read: () => Promise.resolve(text),
    write: (t) => {
      text = t;
      return Promise.resolve();
    },
  };
}

/** The anchor's file name in the CSP's directory of the data dir (beside its keys, never in the SP's reach). */
export const AUDIT_ANCHOR_FILE = 'audit-anchor.json';

/** An anchor in a file in the CSP's own data directory, replaced atomically and durably (fsync'd) on every write. */
export function fileAnchor(path: string): AuditAnchor {
  return {
    async read() {
      try {
        return await readFile(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    },
    async write(text) {
      await writeFileDurableAsync(path, text, { mode: 0o600 });
    },
  };
}
