/**
 * The CSP's durable high-water marks over what the SP stores for it: per user entry and per device entry,
 * the highest version the CSP has stored or seen authenticated. They live in the CSP's own database (its data
 * directory), which the SP never reaches, so a restarted CSP still knows that a row the SP serves is older
 * than one it wrote: a rollback, refused instead of served. (Record chains have their own durable head,
 * `csp_chain_heads`, checked on every append and read.)
 */
import { HrvaultError } from '../errors.js';
import type { SqlDb } from '../sql/index.js';

/** Entries whose versions are tracked. */
export type TrackedKind = 'user' | 'device';

/** The SP served an entry older than the CSP's high-water mark for it (or withheld one it had). */
export class SpRollbackError extends HrvaultError {
  readonly kind: TrackedKind;
  readonly ref: string;
  constructor(kind: TrackedKind, ref: string, message: string) {
    super('HRV_ERR_SP_ROLLBACK', message);
    this.name = 'SpRollbackError';
    this.kind = kind;
    this.ref = ref;
  }
}

/** High-water marks, cached in memory and written through to the CSP's database. */
export class HighWaterMarks {
  readonly #db: SqlDb;
  readonly #marks = new Map<string, number>();

  private constructor(db: SqlDb) {
    this.#db = db;
  }

  /** Opens the marks on the CSP's database, loading all of them (their table: src/csp/schema.ts). */
  static async open(db: SqlDb): Promise<HighWaterMarks> {
    const marks = new HighWaterMarks(db);
    for (const r of await db.query<{ kind: string; ref: string; version: number }>('SELECT kind, ref, version FROM csp_high_water')) {
      marks.#marks.set(`${r.kind}|${r.ref}`, r.version);
    }
    return marks;
  }

  /** The highest version stored or seen for an entry (0: none yet). */
  get(kind: TrackedKind, ref: string): number {
    return this.#marks.get(`${kind}|${ref}`) ?? 0;
  }

  /** Refs of every tracked entry of a kind. */
  refs(kind: TrackedKind): string[] {
    const prefix = `${kind}|`;
    return [...this.#marks.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }

  /**
   * Raises the mark to `version` (never lowers it). Called after the SP acknowledged a write, and when an
   * authenticated entry newer than the mark is seen (a write whose acknowledgement a crash lost).
   */
  async raise(kind: TrackedKind, ref: string, version: number): Promise<void> {
    if (version <= this.get(kind, ref)) return;
    await this.#db.query(
      `INSERT INTO csp_high_water (kind, ref, version) VALUES ($1, $2, $3)
       ON CONFLICT (kind, ref) DO UPDATE SET version = GREATEST(csp_high_water.version, EXCLUDED.version)`,
      [kind, ref, version],
    );
    this.#marks.set(`${kind}|${ref}`, Math.max(version, this.get(kind, ref)));
  }

  /** Throws SpRollbackError when `version` is below the mark of the entry. */
  check(kind: TrackedKind, ref: string, version: number): void {
    const mark = this.get(kind, ref);
    if (version < mark) throw new SpRollbackError(kind, ref, `the SP served version ${version} of a ${kind} entry the CSP stored at version ${mark}: a rollback`);
  }
}
