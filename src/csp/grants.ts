/**
 * Grants of access and the two-person rule. Anything that would let someone read clinical data, or act as
 * an admin, is a grant: a new account of any role, patients added to a doctor's or health worker's care, a
 * password reset. One admin requests it; it takes effect only when `needed - 1` other admins (never the
 * requester, never the account it is about) have approved it. Grants live in the CSP's own database, not
 * at the SP: the SP cannot approve, replay or withhold one.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { SqlDb } from '../sql/index.js';
import { ROLES } from './vocabulary.js';

export const GRANT_KINDS = ['account', 'assign', 'credential'] as const;
export type GrantKind = (typeof GRANT_KINDS)[number];
export const GRANT_STATES = ['pending', 'approved', 'rejected'] as const;
export type GrantState = (typeof GRANT_STATES)[number];

/** A grant as admins see it (it holds no secret). */
export const grantSchema = z.strictObject({
  grant_id: z.string(),
  kind: z.enum(GRANT_KINDS),
  user_id: z.string(),
  username: z.string(),
  role: z.enum(ROLES),
  /** Patients the grant gives access to (for `account` and `assign`). */
  patients: z.array(z.string()),
  requested_by: z.string(),
  requested_ms: z.number().int(),
  /** Admins who approved, in order (the requester is not among them). */
  approvals: z.array(z.string()),
  /** People the grant needs in all, the requester included (`access.grantApprovals`). */
  needed: z.number().int().min(1),
  state: z.enum(GRANT_STATES),
  decided_ms: z.number().int().nullable(),
});
export type Grant = z.infer<typeof grantSchema>;

/** One part of an enrolment code: 18 random bytes, 24 base64url characters, shown once to one admin. */
export function enrolmentCodePart(): string {
  return randomBytes(18).toString('base64url');
}

/** The grants, kept in the CSP's database. */
export class GrantStore {
  readonly #db: SqlDb;
  private constructor(db: SqlDb) {
    this.#db = db;
  }

  /** Opens the store on the CSP's database (its table: src/csp/schema.ts). */
  static async open(db: SqlDb): Promise<GrantStore> {
    return new GrantStore(db);
  }

  /** A new grant, pending (or approved at once when `needed` is 1). */
  draft(input: Pick<Grant, 'kind' | 'user_id' | 'username' | 'role' | 'patients' | 'requested_by' | 'needed'>): Grant {
    const now = Date.now();
    const alone = input.needed <= 1;
    return { grant_id: `g-${randomUUID()}`, ...input, requested_ms: now, approvals: [], state: alone ? 'approved' : 'pending', decided_ms: alone ? now : null };
  }

  /** Stores a new grant or its next state. */
  async put(g: Grant): Promise<void> {
    await this.#db.query(
      'INSERT INTO csp_grants (grant_id, state, requested_ms, body) VALUES ($1, $2, $3, $4) ON CONFLICT (grant_id) DO UPDATE SET state = EXCLUDED.state, body = EXCLUDED.body',
      [g.grant_id, g.state, g.requested_ms, JSON.stringify(g)],
    );
  }

  /** The grant `id`, if any. */
  async get(id: string): Promise<Grant | undefined> {
    const [row] = await this.#db.query<{ body: string }>('SELECT body FROM csp_grants WHERE grant_id = $1', [id]);
    return row ? grantSchema.parse(JSON.parse(row.body)) : undefined;
  }

  /** Grants in `state` (all when absent), oldest first, at most `limit`. */
  async list(state?: GrantState, limit = 500): Promise<Grant[]> {
    const rows = state
      ? await this.#db.query<{ body: string }>('SELECT body FROM csp_grants WHERE state = $1 ORDER BY requested_ms, grant_id LIMIT $2', [state, limit])
      : await this.#db.query<{ body: string }>('SELECT body FROM csp_grants ORDER BY requested_ms, grant_id LIMIT $1', [limit]);
    return rows.map((r) => grantSchema.parse(JSON.parse(r.body)));
  }
}
