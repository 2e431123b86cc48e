/**
 * Access and refresh tokens. Access tokens are short-lived EdDSA JWTs (jose) with issuer, audience and
 * type checked and only EdDSA accepted; refresh tokens are opaque random strings stored hashed, rotated on
 * every use, and reuse of a spent one revokes its whole family (a stolen token is then worth nothing).
 */
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { AuthError } from './errors.js';
import type { Role } from './users.js';
import type { SqlDb } from '../sql/index.js';

export const ACCESS_TOKEN_TTL_S = 600;
export const REFRESH_TOKEN_TTL_S = 7 * 24 * 3600;
const ISSUER = 'hrvault-csp';
const AUDIENCE = 'hrvault-api';
const TYP = 'at+jwt';

/** What a verified access token says about its bearer. */
export interface AccessClaims {
  sub: string;
  role: Role;
  /** The login session (refresh-token family) it was issued under: revoking that session voids the token. */
  sid: string;
}

/** Signs an access token for `claims` (lifetime ACCESS_TOKEN_TTL_S seconds). */
export function signAccessToken(key: KeyObject, claims: AccessClaims, nowS = Math.floor(Date.now() / 1000)): Promise<string> {
  return new SignJWT({ role: claims.role, sid: claims.sid })
    .setProtectedHeader({ alg: 'EdDSA', typ: TYP })
    .setSubject(claims.sub)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + ACCESS_TOKEN_TTL_S)
    .setJti(randomBytes(12).toString('base64url'))
    .sign(key);
}

/** Verifies an access token; any failure is an AuthError with the reason. */
export async function verifyAccessToken(publicKey: KeyObject, token: string): Promise<AccessClaims> {
  if (token.length > 4096) throw new AuthError('token too long');
  try {
    const { payload } = await jwtVerify(token, publicKey, {
      algorithms: ['EdDSA'],
      issuer: ISSUER,
      audience: AUDIENCE,
      typ: TYP,
      requiredClaims: ['sub', 'exp', 'iat', 'sid'],
    });
    const { role, sid } = payload;
    if (typeof payload.sub !== 'string' || typeof sid !== 'string' || (role !== 'patient' && role !== 'health_worker' && role !== 'doctor' && role !== 'admin')) {
      throw new AuthError('token claims are malformed');
    }
    return { sub: payload.sub, role, sid };
  } catch (err) {
    if (err instanceof AuthError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw new AuthError('token expired', { cause: err });
    throw new AuthError(`token rejected: ${err instanceof Error ? err.message : 'invalid'}`, { cause: err });
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** What happened to a presented refresh token. */
export type RefreshOutcome =
  | { kind: 'rotated'; userId: string; token: string; family: string }
  | { kind: 'reused'; userId: string; family: string }
  | { kind: 'invalid' };

/** Most session states kept in memory; past it the cache starts again from the database. */
const SESSION_CACHE_MAX = 100_000;

export class RefreshTokenStore {
  /**
   * family → revoked?, so checking an access token's session costs one database read per session, not per
   * request. Every revocation goes through this store, which updates the entry in the same call.
   */
  readonly #sessions = new Map<string, { userId: string; revoked: boolean }>();

  private constructor(private readonly db: SqlDb) {}

  /** The store on the CSP's database (its table: src/csp/schema.ts). */
  static async open(db: SqlDb): Promise<RefreshTokenStore> {
    return new RefreshTokenStore(db);
  }

  /** Starts a session (a new family) for a fresh login: its first refresh token and its id. */
  async startSession(userId: string, nowMs = Date.now()): Promise<{ token: string; family: string }> {
    const family = randomBytes(12).toString('base64url');
    const token = await this.issue(userId, family, nowMs);
    this.#cache(family, { userId, revoked: false });
    return { token, family };
  }

  /** True while the session `family` of `userId` exists and has not been revoked (logout, reuse, user revoked). */
  async sessionActive(family: string, userId: string): Promise<boolean> {
    let state = this.#sessions.get(family);
    if (!state) {
      const rows = await this.db.query<{ user_id: string; revoked: boolean }>(
        'SELECT user_id, bool_or(revoked) AS revoked FROM csp_refresh WHERE family = $1 GROUP BY user_id',
        [family],
      );
      // A family under two users cannot be issued; treat it like an unknown one.
      const read = rows.length === 1 ? { userId: rows[0]!.user_id, revoked: rows[0]!.revoked } : { userId: '', revoked: true };
      // A revocation that landed while the read was in flight has set the entry already: it wins.
      state = this.#sessions.get(family) ?? read;
      this.#cache(family, state);
    }
    return !state.revoked && state.userId === userId;
  }

  #cache(family: string, state: { userId: string; revoked: boolean }): void {
    if (this.#sessions.size >= SESSION_CACHE_MAX) this.#sessions.clear();
    this.#sessions.set(family, state);
  }

  #revoked(family: string, userId: string): void {
    this.#cache(family, { userId, revoked: true });
  }

  /** Adds a token to a family (a new login's first, or a rotation's next). */
  async issue(userId: string, family = randomBytes(12).toString('base64url'), nowMs = Date.now()): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.db.query('INSERT INTO csp_refresh (token_hash, family, user_id, expires_ms) VALUES ($1, $2, $3, $4)', [
      digest(token),
      family,
      userId,
      nowMs + REFRESH_TOKEN_TTL_S * 1000,
    ]);
    return token;
  }

  /** Spends a token: a fresh one in the same family, or — if it was spent before — revokes the family. */
  async rotate(token: string, nowMs = Date.now()): Promise<RefreshOutcome> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return { kind: 'invalid' };
    const outcome = await this.db.transaction(async (tx) => {
      const [row] = await tx.query<{ family: string; user_id: string; expires_ms: string | number; used: boolean; revoked: boolean }>(
        'SELECT family, user_id, expires_ms, used, revoked FROM csp_refresh WHERE token_hash = $1 FOR UPDATE',
        [digest(token)],
      );
      if (!row || row.revoked || Number(row.expires_ms) <= nowMs) return { kind: 'invalid' } as const;
      if (row.used) {
        await tx.query('UPDATE csp_refresh SET revoked = TRUE WHERE family = $1', [row.family]);
        this.#revoked(row.family, row.user_id);
        return { kind: 'reused', userId: row.user_id, family: row.family } as const;
      }
      await tx.query('UPDATE csp_refresh SET used = TRUE WHERE token_hash = $1', [digest(token)]);
      return { kind: 'spent', userId: row.user_id, family: row.family } as const;
    });
    if (outcome.kind !== 'spent') return outcome;
    return { kind: 'rotated', userId: outcome.userId, family: outcome.family, token: await this.issue(outcome.userId, outcome.family, nowMs) };
  }

  /** Revokes every refresh token of a user (disabled, or a new password). */
  async revokeUser(userId: string): Promise<void> {
    await this.db.query('UPDATE csp_refresh SET revoked = TRUE WHERE user_id = $1', [userId]);
    for (const [family, state] of this.#sessions) if (state.userId === userId) this.#revoked(family, userId);
  }

  /** Revokes one session by its id (the access token's `sid`). */
  async revokeSession(family: string): Promise<void> {
    const rows = await this.db.query<{ user_id: string }>('UPDATE csp_refresh SET revoked = TRUE WHERE family = $1 RETURNING user_id', [family]);
    this.#revoked(family, rows[0]?.user_id ?? '');
  }

  /** Revokes the family of a token (logout); unknown tokens are ignored. */
  async revokeFamilyOf(token: string): Promise<boolean> {
    const rows = await this.db.query<{ family: string; user_id: string }>('SELECT family, user_id FROM csp_refresh WHERE token_hash = $1', [digest(token)]);
    const row = rows[0];
    if (!row) return false;
    await this.db.query('UPDATE csp_refresh SET revoked = TRUE WHERE family = $1', [row.family]);
    this.#revoked(row.family, row.user_id);
    return true;
  }
}
