/**
 * Device (gateway) credentials at the CSP. An admin registers a gateway's raw Ed25519 public key and the
 * patients it serves; the gateway then authenticates every request with a short-lived compact JWS it
 * signs itself (no shared secret, nothing for the CSP to leak). Verification pins the algorithm, type and
 * audience, bounds the lifetime and refuses a token id seen before within its lifetime.
 */
import { randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import { z } from 'zod';
import { WIRE_ID, PERSON_ID } from '../contracts/index.js';
import { HrvaultError } from '../errors.js';
import type { SqlDb } from '../sql/index.js';

/** Audience every device token names. */
export const DEVICE_TOKEN_AUDIENCE = 'hrvault-csp';
/** JOSE `typ` of a device token. */
export const DEVICE_TOKEN_TYP = 'hrvault-device+jwt';
/** Longest lifetime (exp − iat) a device token may claim, seconds. */
export const DEVICE_TOKEN_MAX_LIFETIME_S = 120;
/** Clock skew tolerated between gateway and CSP, seconds. */
const CLOCK_SKEW_S = 30;

/** What every refused device credential says to the caller, whatever the reason (the reason is audited). */
export const DEVICE_AUTH_REFUSED = 'device credential refused';

/** A device credential was refused: unknown, revoked, malformed, expired, replayed, or used beyond its rights. */
export class DeviceAuthError extends HrvaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HRV_ERR_DEVICE', message, options);
    this.name = 'DeviceAuthError';
  }
}

/** A registered gateway as the CSP holds it and seals for the SP. */
export const deviceRecordSchema = z.strictObject({
  device_id: z.string().regex(WIRE_ID),
  /** Raw Ed25519 public key, 64 lowercase hex digits. */
  signing_public_key: z.string().regex(/^[0-9a-f]{64}$/),
  patients: z.array(z.string().regex(PERSON_ID)).max(100_000),
  version: z.number().int().min(1),
  created_ms: z.number().int(),
  revoked: z.boolean(),
});
export type DeviceRecord = z.infer<typeof deviceRecordSchema>;

/** What an admin sends to register a device. */
export const deviceRegistrationSchema = z.strictObject({
  id: z.string().regex(WIRE_ID, 'must be 1–64 of [A-Za-z0-9_-]'),
  signing_public_key: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be a raw Ed25519 public key: 64 hex digits'),
  patients: z.array(z.string().regex(PERSON_ID, 'must be 1–64 of [A-Za-z0-9_.-]')).min(1).max(100_000),
});
export type DeviceRegistration = z.infer<typeof deviceRegistrationSchema>;

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

/**
 * Signs a device token for `gatewayId` with its raw Ed25519 key pair (seed and public key, 32 bytes each),
 * valid for `lifetimeS` seconds (at most DEVICE_TOKEN_MAX_LIFETIME_S). The gateway sends it as
 * `Authorization: Bearer <token>`, a fresh one per request.
 */
export async function signDeviceToken(
  key: { privateKey: Uint8Array; publicKey: Uint8Array },
  gatewayId: string,
  opts: { nowS?: number; lifetimeS?: number; jti?: string } = {},
): Promise<string> {
  const nowS = opts.nowS ?? Math.floor(Date.now() / 1000);
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: b64url(key.publicKey), d: b64url(key.privateKey) };
  const privateKey = await importJWK(jwk, 'EdDSA');
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', typ: DEVICE_TOKEN_TYP })
    .setIssuer(gatewayId)
    .setSubject(gatewayId)
    .setAudience(DEVICE_TOKEN_AUDIENCE)
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + (opts.lifetimeS ?? 60))
    .setJti(opts.jti ?? randomBytes(16).toString('base64url'))
    .sign(privateKey);
}

/**
 * Token ids seen within their lifetime, kept in the CSP's own database so a restart does not reopen the
 * replay window. Entries past their expiry are swept as new ones arrive.
 */
export class JtiStore {
  #lastSweepS = 0;
  private constructor(private readonly db: SqlDb) {}

  /** Opens the store on the CSP's database (its table: src/csp/schema.ts). */
  static async open(db: SqlDb): Promise<JtiStore> {
    return new JtiStore(db);
  }

  /** Records `jti` for `deviceId`; false when it was already used. */
  async claim(deviceId: string, jti: string, expiresS: number, nowS: number): Promise<boolean> {
    if (nowS - this.#lastSweepS >= 60) {
      this.#lastSweepS = nowS;
      await this.db.query('DELETE FROM csp_device_jti WHERE expires_s < $1', [nowS - CLOCK_SKEW_S]);
    }
    const rows = await this.db.query('INSERT INTO csp_device_jti (device_id, jti, expires_s) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING jti', [
      deviceId,
      jti,
      expiresS,
    ]);
    return rows.length === 1;
  }
}

/**
 * Verifies a device token against the registered devices; returns the device. Every refusal is a
 * DeviceAuthError whose message says why (the edge answers 401 without the reason's details).
 */
export async function verifyDeviceToken(
  token: string,
  lookup: (deviceId: string) => DeviceRecord | undefined,
  jtis: JtiStore,
  nowS = Math.floor(Date.now() / 1000),
): Promise<DeviceRecord> {
  if (token.length > 4096) throw new DeviceAuthError('device token too long');
  let issuer: unknown;
  try {
    const header = decodeProtectedHeader(token);
    if (header.alg !== 'EdDSA') throw new DeviceAuthError(`device token algorithm ${String(header.alg)} is not EdDSA`);
    if (header.typ !== DEVICE_TOKEN_TYP) throw new DeviceAuthError(`device token type ${String(header.typ)} is not ${DEVICE_TOKEN_TYP}`);
    issuer = decodeJwt(token).iss;
  } catch (err) {
    if (err instanceof DeviceAuthError) throw err;
    throw new DeviceAuthError('device token is malformed', { cause: err });
  }
  if (typeof issuer !== 'string' || !WIRE_ID.test(issuer)) throw new DeviceAuthError('device token has no valid issuer');
  const device = lookup(issuer);
  if (!device || device.revoked) {
    // The same signature check as for a live device, so the time taken does not tell them apart either.
    await jwtVerify(token, await dummyKey(), { algorithms: ['EdDSA'] }).catch(() => undefined);
    throw new DeviceAuthError(device ? `device ${issuer} is revoked` : `unknown device ${issuer}`);
  }
  const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: b64url(Buffer.from(device.signing_public_key, 'hex')) }, 'EdDSA');
  let payload;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: ['EdDSA'],
      typ: DEVICE_TOKEN_TYP,
      audience: DEVICE_TOKEN_AUDIENCE,
      issuer: device.device_id,
      subject: device.device_id,
      requiredClaims: ['iss', 'sub', 'aud', 'iat', 'exp', 'jti'],
      currentDate: new Date(nowS * 1000),
      clockTolerance: CLOCK_SKEW_S,
    }));
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw new DeviceAuthError('device token expired', { cause: err });
    throw new DeviceAuthError(`device token rejected: ${err instanceof Error ? err.message : 'invalid'}`, { cause: err });
  }
  const { iat, exp, jti } = payload;
  if (typeof iat !== 'number' || typeof exp !== 'number' || typeof jti !== 'string' || jti.length < 8 || jti.length > 128) {
    throw new DeviceAuthError('device token claims are malformed');
  }
  if (exp - iat > DEVICE_TOKEN_MAX_LIFETIME_S) throw new DeviceAuthError(`device token lifetime exceeds ${DEVICE_TOKEN_MAX_LIFETIME_S} s`);
  if (iat > nowS + CLOCK_SKEW_S) throw new DeviceAuthError('device token is issued in the future');
  if (!(await jtis.claim(device.device_id, jti, exp, nowS))) throw new DeviceAuthError('device token was already used (replay)');
  return device;
}

let dummy: Promise<Awaited<ReturnType<typeof importJWK>>> | undefined;
/** An Ed25519 public key no device has. */
function dummyKey(): Promise<Awaited<ReturnType<typeof importJWK>>> {
  dummy ??= importJWK({ kty: 'OKP', crv: 'Ed25519', x: b64url(Buffer.alloc(32, 0x5a)) }, 'EdDSA');
  return dummy;
}

/**
 * A token bucket per device: `burst` requests at once, refilled at `perMinute`. `take` returns undefined
 * when the request may proceed, else the seconds until one would.
 */
export class DeviceRateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly limit: { perMinute: number; burst: number }) {}

  /** Takes one request's worth for `deviceId`; the wait in seconds when none is left. */
  take(deviceId: string, nowMs = Date.now()): number | undefined {
    const rate = this.limit.perMinute / 60_000;
    const b = this.#buckets.get(deviceId) ?? { tokens: this.limit.burst, at: nowMs };
    b.tokens = Math.min(this.limit.burst, b.tokens + (nowMs - b.at) * rate);
    b.at = nowMs;
    this.#buckets.set(deviceId, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / rate / 1000));
  }
}
