/**
 * Device credentials and the result ingest at the CSP: the path every verified pipeline result takes.
 * Results come from the enclave's analysis of a shared record (src/test-support/pipeline-fixtures.ts), never by hand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SignJWT, importJWK } from 'jose';
import { generateSigningKeyPair, type SigningKeyPair } from '../crypto/index.js';
import { ContractError } from '../contracts/index.js';
import type { HrvResult, IngestRequest } from '../contracts/index.js';
import { DEVICE_AUTH_REFUSED, DeviceAuthError, signDeviceToken } from './devices.js';
import { ConflictError, ForbiddenError, NotFoundError, ThrottledError, ValidationError } from './errors.js';
import { decideIngest, decideRead, decideWrite, RECORD_TYPES, type Principal } from './policy.js';
import { makeHarness, type Harness } from '../test-support/access/harness.js';
import { pipelineResults } from '../test-support/pipeline-fixtures.js';
import { hasSharedData, SHARED_DATA_SKIP_REASON } from '../test-support/shared-data.js';
import { PG_URL, postgresReachable } from '../test-support/access/postgres.js';

const PW = 'correct horse battery staple';
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

let h: Harness;
let admin: Principal;
let doctor: Principal;
let gw: SigningKeyPair;
let results: HrvResult[];

const ingest = (items: Array<{ patient: string; result: HrvResult }>, gateway = 'gw-1'): IngestRequest => ({
  gateway,
  items,
});
const token = (opts: Parameters<typeof signDeviceToken>[2] = {}, id = 'gw-1', key = gw) =>
  signDeviceToken(key, id, opts);

const pgReachable = await postgresReachable();

for (const [engine, location] of [
  ['embedded database', 'memory:'],
  ['PostgreSQL', PG_URL],
] as const) {
  describe.skipIf(!hasSharedData() || (location !== 'memory:' && !pgReachable))(
    `device credential and result ingest (${engine})`,
    () => {
      beforeAll(async () => {
        h = await makeHarness(location, { deviceRateLimit: { perMinute: 6000, burst: 1000 } });
        const csp = h.csp;
        await csp.registerUser('bootstrap', { username: 'admin', password: PW, role: 'admin' });
        await csp.registerUser('bootstrap', {
          username: 'pat.a',
          password: PW,
          role: 'patient',
          patient_id: 'P-A',
        });
        await csp.registerUser('bootstrap', {
          username: 'pat.b',
          password: PW,
          role: 'patient',
          patient_id: 'P-B',
        });
        await csp.registerUser('bootstrap', {
          username: 'doc',
          password: PW,
          role: 'doctor',
          patients: ['P-A'],
        });
        admin = await csp.authenticate((await csp.login('admin', PW)).access_token);
        doctor = await csp.authenticate((await csp.login('doc', PW)).access_token);
        gw = generateSigningKeyPair();
        await csp.registerDevice(admin, {
          id: 'gw-1',
          signing_public_key: hex(gw.publicKey),
          patients: ['P-A'],
        });
        results = pipelineResults({ gateway: 'gw-1', durationS: 120 });
      });
      afterAll(async () => {
        await h?.close();
      });

      describe('registration', () => {
        it('only an admin registers a device; the denial is audited', async () => {
          await expect(
            h.csp.registerDevice(doctor, {
              id: 'gw-x',
              signing_public_key: hex(gw.publicKey),
              patients: ['P-A'],
            }),
          ).rejects.toBeInstanceOf(ForbiddenError);
          const entries = await h.csp.audit.entries(1, 10_000);
          expect(entries.some((e) => e.action === 'device.register' && e.outcome === 'denied')).toBe(true);
        });

        it('refuses unknown patients (naming them), a malformed key, and a taken id', async () => {
          await expect(
            h.csp.registerDevice(admin, {
              id: 'gw-2',
              signing_public_key: hex(gw.publicKey),
              patients: ['P-A', 'P-NOPE'],
            }),
          ).rejects.toThrow(/P-NOPE/);
          await expect(
            h.csp.registerDevice(admin, { id: 'gw-2', signing_public_key: 'abcd', patients: ['P-A'] }),
          ).rejects.toBeInstanceOf(ValidationError);
          await expect(
            h.csp.registerDevice(admin, {
              id: 'gw-1',
              signing_public_key: hex(gw.publicKey),
              patients: ['P-A'],
            }),
          ).rejects.toBeInstanceOf(ConflictError);
        });
      });

      describe('authentication (compact JWS, EdDSA, typ hrvault-device+jwt, aud hrvault-csp)', () => {
        it('accepts a token the gateway signed', async () => {
          const p = await h.csp.authenticateDevice(await token());
          expect(p).toMatchObject({ kind: 'device', device: { device_id: 'gw-1', patients: ['P-A'] } });
        });

        const refusals: Array<[string, () => Promise<string>, RegExp]> = [
          ['an unknown device', () => token({}, 'gw-unknown'), /unknown device/],
          ['a token signed by another key', () => token({}, 'gw-1', generateSigningKeyPair()), /rejected/],
          ['an expired token', () => token({ nowS: Math.floor(Date.now() / 1000) - 600 }), /expired/],
          ['a lifetime over 120 s', () => token({ lifetimeS: 300 }), /lifetime/],
          [
            'a token issued in the future',
            () => token({ nowS: Math.floor(Date.now() / 1000) + 600 }),
            /future|rejected/,
          ],
          [
            'another audience',
            async () => sign({ alg: 'EdDSA', typ: 'hrvault-device+jwt' }, { aud: 'hrvault-api' }),
            /aud/,
          ],
          ['another type (an access token)', async () => sign({ alg: 'EdDSA', typ: 'at+jwt' }, {}), /type/],
          [
            'no jti',
            async () => sign({ alg: 'EdDSA', typ: 'hrvault-device+jwt' }, { jti: undefined }),
            /jti/,
          ],
          [
            'sub other than iss',
            async () => sign({ alg: 'EdDSA', typ: 'hrvault-device+jwt' }, { sub: 'gw-2' }),
            /sub/,
          ],
          [
            'HS256 with the public key as secret',
            async () =>
              new SignJWT({ jti: 'abcdefgh12' })
                .setProtectedHeader({ alg: 'HS256', typ: 'hrvault-device+jwt' })
                .setIssuer('gw-1')
                .setSubject('gw-1')
                .setAudience('hrvault-csp')
                .setIssuedAt()
                .setExpirationTime('60s')
                .sign(gw.publicKey),
            /algorithm/,
          ],
          [
            'alg none',
            async () =>
              `${Buffer.from('{"alg":"none","typ":"hrvault-device+jwt"}').toString('base64url')}.${Buffer.from(
                JSON.stringify({
                  iss: 'gw-1',
                  sub: 'gw-1',
                  aud: 'hrvault-csp',
                  iat: 1,
                  exp: 9e9,
                  jti: 'abcdefghij',
                }),
              ).toString('base64url')}.`,
            /algorithm/,
          ],
          ['garbage', async () => 'not.a.token', /malformed/],
        ];
        for (const [what, make, reason] of refusals) {
          it(`refuses ${what}`, async () => {
            const err = await h.csp.authenticateDevice(await make()).catch((e: unknown) => e);
            expect(err).toBeInstanceOf(DeviceAuthError);
            // The caller learns nothing of why; the reason stays server-side (cause, audit).
            expect((err as Error).message).toBe(DEVICE_AUTH_REFUSED);
            expect(((err as Error).cause as Error).message).toMatch(reason);
          });
        }

        it('refuses a token id used before (replay), however valid the signature', async () => {
          const t = await token();
          await h.csp.authenticateDevice(t);
          expect(await refusal(h.csp.authenticateDevice(t))).toMatch(/replay/);
        });

        it('refuses a token id replayed after a CSP restart', async () => {
          const t = await token();
          await h.csp.authenticateDevice(t);
          await h.restartCsp({ deviceRateLimit: { perMinute: 6000, burst: 1000 } });
          expect(await refusal(h.csp.authenticateDevice(t))).toMatch(/replay/);
        });

        it('audits every refusal', async () => {
          const entries = await h.csp.audit.entries(1, 10_000);
          expect(
            entries.filter((e) => e.action === 'device.auth' && e.outcome === 'denied').length,
          ).toBeGreaterThanOrEqual(refusals.length);
        });
      });

      describe('policy (src/access/policy.ts)', () => {
        it('a device appends hrv and rr_batch for its enrolled patients only, and reads nothing', async () => {
          const p = await h.csp.authenticateDevice(await token());
          for (const type of RECORD_TYPES) {
            expect(decideWrite(p, 'P-A', type)).toBe(
              type === 'hrv' || type === 'rr_batch' ? 'allow' : 'forbidden',
            );
            expect(decideWrite(p, 'P-B', type)).toBe('not_found');
          }
          expect(decideRead(p)('P-A')).toBe('not_found');
          expect(decideIngest(p, 'gw-1')).toBe('allow');
          expect(decideIngest(p, 'gw-2')).toBe('forbidden');
          expect(decideIngest(doctor, 'gw-1')).toBe('forbidden');
          await expect(h.csp.getRecords(p, 'P-A')).rejects.toBeInstanceOf(NotFoundError);
          await expect(
            h.csp.appendRecord(p, 'P-A', { type: 'note', data: { text: 'x' } }),
          ).rejects.toBeInstanceOf(ForbiddenError);
        });
      });

      describe('ingest', () => {
        it('stores each result as one hrv and one rr_batch record built by recordsFromResult', async () => {
          const p = await h.csp.authenticateDevice(await token());
          const answer = await h.csp.ingestResults(
            p,
            ingest(results.slice(0, 3).map((result) => ({ patient: 'P-A', result }))),
          );
          expect(answer.outcomes).toEqual(
            results.slice(0, 3).map((r) => ({ patient: 'P-A', seq: r.seq, outcome: 'stored' })),
          );
          const hrv = (await h.csp.getRecords(doctor, 'P-A', { type: 'hrv' })).records;
          expect(hrv).toHaveLength(3);
          expect(hrv[2]!.data).toMatchObject({
            source: { kind: 'pipeline', gateway: 'gw-1', seq: results[2]!.seq },
            measures: results[2]!.window.measures,
          });
          expect(hrv[2]!.author).toBe('device:gw-1');
          const rr = (await h.csp.getRecords(doctor, 'P-A', { type: 'rr_batch' })).records;
          expect(rr[0]!.data).toMatchObject({ beats: results[0]!.rr });
        });

        it('a retried or replayed result is a duplicate and adds no record', async () => {
          const before = (await h.csp.getRecords(doctor, 'P-A')).records.length;
          const p = await h.csp.authenticateDevice(await token());
          const answer = await h.csp.ingestResults(
            p,
            ingest([
              { patient: 'P-A', result: results[1]! },
              { patient: 'P-A', result: results[3]! },
            ]),
          );
          expect(answer.outcomes.map((o) => o.outcome)).toEqual(['duplicate', 'stored']);
          expect((await h.csp.getRecords(doctor, 'P-A')).records.length).toBe(before + 2);
        });

        it('after a CSP restart a replayed result is still a duplicate', async () => {
          await h.restartCsp({ deviceRateLimit: { perMinute: 6000, burst: 1000 } });
          const p = await h.csp.authenticateDevice(await token());
          const before = (await h.csp.getRecords(doctor, 'P-A')).records.length;
          const answer = await h.csp.ingestResults(p, ingest([{ patient: 'P-A', result: results[0]! }]));
          expect(answer.outcomes[0]!.outcome).toBe('duplicate');
          expect((await h.csp.getRecords(doctor, 'P-A')).records.length).toBe(before);
        });

        it('a CSP that stopped after the SP stored a result but before indexing it completes the index on replay', async () => {
          const p = await h.csp.authenticateDevice(await token());
          const ref = (
            await h.cspDb.query<{ patient_ref: string; seq: number }>(
              'SELECT patient_ref, max(seq) AS seq FROM csp_chain_heads GROUP BY patient_ref',
            )
          )[0]!;
          await h.csp.ingestResults(p, ingest([{ patient: 'P-A', result: results[4]! }]));
          // Roll the CSP's own index back to before that result: what a crash between the two commits leaves.
          const [head] = await h.spDb.query<{ chain: Uint8Array }>(
            'SELECT chain FROM sp_records WHERE patient_ref = $1 AND seq = $2',
            [ref.patient_ref, ref.seq],
          );
          await h.cspDb.query('DELETE FROM csp_record_index WHERE patient_ref = $1 AND seq > $2', [
            ref.patient_ref,
            ref.seq,
          ]);
          await h.cspDb.query('UPDATE csp_chain_heads SET seq = $2, chain = $3 WHERE patient_ref = $1', [
            ref.patient_ref,
            ref.seq,
            Buffer.from(head!.chain).toString('hex'),
          ]);
          await h.restartCsp({ deviceRateLimit: { perMinute: 6000, burst: 1000 } });
          const p2 = await h.csp.authenticateDevice(await token());
          const answer = await h.csp.ingestResults(
            p2,
            ingest([
              { patient: 'P-A', result: results[4]! },
              { patient: 'P-A', result: results[5]! },
            ]),
          );
          expect(answer.outcomes.map((o) => o.outcome)).toEqual(['duplicate', 'stored']);
          const read = await h.csp.getRecords(doctor, 'P-A');
          expect(read.integrity_failures).toEqual([]);
          expect(
            read.records
              .filter((r) => r.type === 'hrv')
              .map((r) => (r.data as { source: { seq: number } }).source.seq),
          ).toEqual([0, 1, 2, 3, 4, 5]);
          expect(await h.csp.verifyPatientChain('P-A')).toMatchObject({ ok: true });
          void p;
        });

        it('refuses, storing nothing, a request naming another gateway or a patient the device does not serve', async () => {
          const before = (await h.csp.getRecords(doctor, 'P-A')).records.length;
          const p = await h.csp.authenticateDevice(await token());
          await expect(
            h.csp.ingestResults(p, ingest([{ patient: 'P-A', result: results[6]! }], 'gw-2')),
          ).rejects.toBeInstanceOf(ForbiddenError);
          await expect(
            h.csp.ingestResults(
              p,
              ingest([
                { patient: 'P-A', result: results[6]! },
                { patient: 'P-B', result: results[0]! },
              ]),
            ),
          ).rejects.toThrow(/items\.1\.patient/);
          await expect(
            h.csp.ingestResults(doctor, ingest([{ patient: 'P-A', result: results[6]! }])),
          ).rejects.toBeInstanceOf(ForbiddenError);
          expect((await h.csp.getRecords(doctor, 'P-A')).records.length).toBe(before);
        });

        it('refuses a body that is not an IngestRequest, naming the field', async () => {
          const p = await h.csp.authenticateDevice(await token());
          const flat = {
            ...results[6]!,
            window: { ...results[6]!.window, measures: undefined },
            sdnn_ms: 40,
          };
          const err = await h.csp
            .ingestResults(p, { gateway: 'gw-1', items: [{ patient: 'P-A', result: flat }] })
            .catch((e: unknown) => e);
          expect(err).toBeInstanceOf(ContractError);
          expect((err as ContractError).field).toMatch(/^items\.0\.result/);
        });

        it('a revoked device is refused from then on', async () => {
          const other = generateSigningKeyPair();
          await h.csp.registerDevice(admin, {
            id: 'gw-r',
            signing_public_key: hex(other.publicKey),
            patients: ['P-B'],
          });
          await h.csp.authenticateDevice(await token({}, 'gw-r', other));
          await expect(h.csp.revokeDevice(doctor, 'gw-r')).rejects.toBeInstanceOf(ForbiddenError);
          await h.csp.revokeDevice(admin, 'gw-r');
          expect(await refusal(h.csp.authenticateDevice(await token({}, 'gw-r', other)))).toMatch(/revoked/);
          await h.restartCsp({ deviceRateLimit: { perMinute: 6000, burst: 1000 } });
          const refused = (t: string) =>
            h.csp.authenticateDevice(t).then(
              () => undefined as unknown as DeviceAuthError,
              (e: unknown) => e as DeviceAuthError,
            );
          const revoked = await refused(await token({}, 'gw-r', other));
          const unknown = await refused(await token({}, 'gw-never', other));
          // A revoked device and one never registered are refused alike; only the audit log tells them apart.
          expect([revoked.code, revoked.message]).toEqual([unknown.code, unknown.message]);
          expect([(revoked.cause as Error).message, (unknown.cause as Error).message]).toEqual(['device gw-r is revoked', 'unknown device gw-never']);
          const reasons = (await h.csp.audit.search({ action: 'device.auth', outcome: 'denied', limit: 2 })).items.map((e) => e.detail?.reason);
          expect(reasons).toEqual(['unknown device gw-never', 'device gw-r is revoked']);
        });

        it('rate-limits each device', async () => {
          await h.restartCsp({ deviceRateLimit: { perMinute: 60, burst: 2 } });
          await h.csp.authenticateDevice(await token());
          await h.csp.authenticateDevice(await token());
          const err = await h.csp.authenticateDevice(await token()).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(ThrottledError);
          expect((err as ThrottledError).retryAfterS).toBeGreaterThanOrEqual(1);
          await h.restartCsp({ deviceRateLimit: { perMinute: 6000, burst: 1000 } });
        });
      });
    },
  );
}

if (!hasSharedData())
  describe.skip(SHARED_DATA_SKIP_REASON, () => it('needs ../shared/data', () => undefined));

/** The server-side reason of a refused device credential (the caller sees only DEVICE_AUTH_REFUSED). */
async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeviceAuthError);
  expect((err as Error).message).toBe(DEVICE_AUTH_REFUSED);
  return ((err as Error).cause as Error).message;
}

/** Signs a device token with chosen header and claim overrides (undefined removes a claim). */
async function sign(header: { alg: string; typ: string }, claims: Record<string, unknown>): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const base: Record<string, unknown> = {
    iss: 'gw-1',
    sub: 'gw-1',
    aud: 'hrvault-csp',
    iat: now,
    exp: now + 60,
    jti: `j-${Math.random().toString(36).slice(2)}`,
  };
  const payload = Object.fromEntries(
    Object.entries({ ...base, ...claims }).filter(([, v]) => v !== undefined),
  );
  const key = await importJWK(
    {
      kty: 'OKP',
      crv: 'Ed25519',
      x: Buffer.from(gw.publicKey).toString('base64url'),
      d: Buffer.from(gw.privateKey).toString('base64url'),
    },
    'EdDSA',
  );
  return new SignJWT(payload).setProtectedHeader(header).sign(key);
}
