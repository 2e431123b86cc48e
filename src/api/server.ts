/**
 * The HTTP API in front of the CSP: fastify with a JSON schema on every route (unknown fields refused),
 * bearer access tokens, RFC 9457 problems, an OpenAPI document, and live record updates over server-sent
 * events. Domain decisions stay in the CSP; this layer only translates.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { REFRESH_TOKEN_TTL_S } from '../csp/index.js';
import swagger from '@fastify/swagger';
import fastifyStatic from '@fastify/static';
import type { CspService, ClinicalRecord } from '../csp/index.js';
import { AGGREGATE_METRICS, PATIENT_SORTS, principalName, type AggregateMetric, type PatientSort } from '../csp/index.js';
import { ALERT_TYPES } from '../contracts/index.js';
import { AuthError, ForbiddenError, ValidationError } from '../csp/index.js';
import { RECORD_TYPES, decideRead, type Principal, type RecordType } from '../csp/index.js';
import { ROLES, type Role } from '../csp/index.js';
import { problemErrorHandler, sendProblem } from './problem.js';

/** Largest record body (uploaded files included), bytes. */
export const RECORD_BODY_LIMIT = 2 * 1024 * 1024;

/** Largest ingest body, bytes: up to MAX_INGEST_ITEMS results with their beats. */
export const INGEST_BODY_LIMIT = 16 * 1024 * 1024;

export interface ApiOptions {
  csp: CspService;
  /** Largest accepted request body, bytes (default 64 KiB). */
  bodyLimit?: number;
  logger?: boolean;
  /** Directory of the built dashboard (dist/web), served at `/` when given. */
  webRoot?: string;
  /** How often a live stream re-checks its caller's token and rights, ms (default 2000). */
  liveRecheckMs?: number;
}

const problemSchema = {
  type: 'object',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string' },
    instance: { type: 'string' },
    field: { type: 'string' },
  },
} as const;

const tokensSchema = {
  type: 'object',
  required: ['access_token', 'refresh_token', 'expires_in'],
  properties: { access_token: { type: 'string' }, refresh_token: { type: 'string' }, expires_in: { type: 'integer' }, token_type: { type: 'string' } },
} as const;

/** Patient and user ids: the same alphabet as the CSP's user records. */
const idString = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' } as const;
const idList = { type: 'array', maxItems: 10000, items: idString } as const;

const patientParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: idString },
} as const;

const recordSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    patient_id: { type: 'string' },
    type: { type: 'string', enum: [...RECORD_TYPES] },
    t_ms: { type: 'integer' },
    author: { type: 'string' },
    author_name: { type: 'string' },
    created_ms: { type: 'integer' },
    data: { type: 'object', additionalProperties: true },
  },
} as const;

const userSchema = {
  type: 'object',
  properties: {
    user_id: { type: 'string' },
    username: { type: 'string' },
    role: { type: 'string', enum: [...ROLES] },
    display_name: { type: 'string' },
    patient_id: { type: 'string' },
    patients: { type: 'array', items: { type: 'string' } },
    version: { type: 'integer' },
    created_ms: { type: 'integer' },
    disabled: { type: 'boolean' },
    service: { type: 'string' },
  },
} as const;

const timeParam = { type: 'string', maxLength: 40, description: 'ISO 8601 date-time or milliseconds since the epoch' } as const;

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema, 413: problemSchema, 429: problemSchema } as const;

/** Name of the refresh-token cookie (HttpOnly, SameSite=Strict, sent only to /api/v1/auth). */
export const REFRESH_COOKIE = 'hrvault_refresh';
const REFRESH_COOKIE_PATH = '/api/v1/auth';

/** The value of cookie `name` in a Cookie header (RFC 6265 pairs; the first occurrence wins). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    // Refresh tokens are base64url; anything else is not one of ours.
    return /^[A-Za-z0-9_-]{1,128}$/.test(value) ? value : undefined;
  }
  return undefined;
}

function cookieAttributes(request: FastifyRequest, maxAgeS: number): string {
  return `Path=${REFRESH_COOKIE_PATH}; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${request.protocol === 'https' ? '; Secure' : ''}`;
}

function setRefreshCookie(request: FastifyRequest, reply: FastifyReply, token: string): void {
  reply.header('set-cookie', `${REFRESH_COOKIE}=${token}; ${cookieAttributes(request, REFRESH_TOKEN_TTL_S)}`);
}

function clearRefreshCookie(request: FastifyRequest, reply: FastifyReply): void {
  reply.header('set-cookie', `${REFRESH_COOKIE}=; ${cookieAttributes(request, 0)}`);
}

/** Parses a time query parameter (ISO 8601 or epoch ms) into epoch ms. */
export function parseTime(field: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (/^\d{1,16}$/.test(value)) return Number(value);
  const t = Date.parse(value);
  if (!Number.isFinite(t) || !/^\d{4}-\d{2}-\d{2}/.test(value)) throw new ValidationError(field, 'must be an ISO 8601 date-time or epoch milliseconds');
  return t;
}

/** Builds the API (not yet listening). */
export async function buildApi(opts: ApiOptions): Promise<FastifyInstance> {
  const { csp } = opts;
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit ?? 64 * 1024,
    // Prototype-pollution payloads are refused outright rather than silently stripped.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // No type coercion: a number where a string belongs is an error, not silently converted.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'hrvault API', version: '1.0.0', description: 'Access to encrypted cardiac monitoring records through the CSP.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
  });
  app.setErrorHandler(problemErrorHandler);
  app.setNotFoundHandler((request, reply) => sendProblem(reply, request, 404, 'HRV_ERR_NOT_FOUND', 'no such route'));

  const principals = new WeakMap<FastifyRequest, Principal>();
  const bearerToken = (request: FastifyRequest): string | undefined => {
    const header = request.headers.authorization;
    return (typeof header === 'string' ? /^Bearer ([A-Za-z0-9_.-]{10,4096})$/.exec(header) : null)?.[1];
  };
  const auth = async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request);
    if (!token) throw new AuthError('missing or malformed bearer token');
    principals.set(request, await csp.authenticate(token));
  };
  const who = (request: FastifyRequest): Principal => {
    const p = principals.get(request);
    if (!p) throw new AuthError('not authenticated');
    return p;
  };
  const address = (request: FastifyRequest): string => request.ip;

  if (opts.webRoot !== undefined) {
    // Only the files present at start are routed (no wildcard), so unknown paths still get a problem+json 404.
    await app.register(fastifyStatic, { root: opts.webRoot, prefix: '/', wildcard: false, index: 'index.html' });
  }

  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true, sp_key_id: csp.link.keyId ?? null }));

  app.post(
    '/api/v1/auth/login',
    {
      schema: {
        tags: ['auth'],
        security: [],
        body: {
          type: 'object',
          required: ['username', 'password'],
          additionalProperties: false,
          properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, password: { type: 'string', minLength: 1, maxLength: 256 } },
        },
        response: { 200: tokensSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { username, password } = request.body as { username: string; password: string };
      const tokens = await csp.login(username, password, address(request));
      setRefreshCookie(request, reply, tokens.refresh_token);
      return { ...tokens, token_type: 'Bearer' };
    },
  );

  // The refresh token travels in the body (API clients) or in the HttpOnly cookie (the dashboard, which
  // then keeps no token in JS-readable storage); the body wins when both are present.
  const refreshBody = {
    type: ['object', 'null'],
    additionalProperties: false,
    properties: { refresh_token: { type: 'string', minLength: 1, maxLength: 128 } },
  } as const;
  const presentedRefresh = (request: FastifyRequest): string => {
    const fromBody = (request.body as { refresh_token?: string } | null | undefined)?.refresh_token;
    const token = fromBody ?? readCookie(request.headers.cookie, REFRESH_COOKIE);
    if (!token) throw new AuthError('no refresh token (body refresh_token or the hrvault_refresh cookie)');
    return token;
  };

  app.post('/api/v1/auth/refresh', { schema: { tags: ['auth'], security: [], body: refreshBody, response: { 200: tokensSchema, ...errors } } }, async (request, reply) => {
    const tokens = await csp.refresh(presentedRefresh(request));
    setRefreshCookie(request, reply, tokens.refresh_token);
    return { ...tokens, token_type: 'Bearer' };
  });

  app.post('/api/v1/auth/logout', { preHandler: auth, schema: { tags: ['auth'], body: refreshBody, response: { 204: { type: 'null' }, ...errors } } }, async (request, reply) => {
    await csp.logout(presentedRefresh(request), who(request));
    clearRefreshCookie(request, reply);
    return reply.code(204).send();
  });

  // ---------- devices (gateways) and the result ingest ----------

  const deviceSchema = {
    type: 'object',
    properties: {
      device_id: { type: 'string' },
      signing_public_key: { type: 'string' },
      patients: { type: 'array', items: { type: 'string' } },
      version: { type: 'integer' },
      created_ms: { type: 'integer' },
      revoked: { type: 'boolean' },
    },
  } as const;
  const deviceParams = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } } } as const;

  app.post(
    '/api/v1/devices',
    {
      preHandler: auth,
      schema: {
        tags: ['devices'],
        body: {
          type: 'object',
          required: ['id', 'signing_public_key', 'patients'],
          additionalProperties: false,
          properties: {
            id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
            signing_public_key: { type: 'string', pattern: '^[0-9a-fA-F]{64}$', description: 'raw Ed25519 public key, 64 hex digits' },
            patients: { ...idList, minItems: 1 },
          },
        },
        response: { 201: deviceSchema, ...errors },
      },
    },
    async (request, reply) => reply.code(201).send(await csp.registerDevice(who(request), request.body)),
  );

  app.get(
    '/api/v1/devices',
    { preHandler: auth, schema: { tags: ['devices'], response: { 200: { type: 'object', properties: { devices: { type: 'array', items: deviceSchema } } }, ...errors } } },
    async (request) => ({ devices: csp.listDevices(who(request)) }),
  );

  app.delete(
    '/api/v1/devices/:id',
    { preHandler: auth, schema: { tags: ['devices'], params: deviceParams, response: { 200: deviceSchema, ...errors } } },
    async (request) => csp.revokeDevice(who(request), (request.params as { id: string }).id),
  );

  const deviceAuth = async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer ([A-Za-z0-9_.-]{10,4096})$/.exec(header) : null;
    if (!m) throw new AuthError('missing or malformed bearer token');
    principals.set(request, await csp.authenticateDevice(m[1]!));
  };

  app.post(
    '/api/v1/ingest/results',
    {
      preHandler: deviceAuth,
      bodyLimit: INGEST_BODY_LIMIT,
      schema: {
        tags: ['ingest'],
        description: 'Verified HRV results from a gateway (device credential: a compact JWS, see docs/protocol.md). Body: IngestRequest (src/contracts/ingest.ts).',
        body: { type: 'object' },
        response: {
          200: {
            type: 'object',
            properties: {
              outcomes: {
                type: 'array',
                items: { type: 'object', properties: { patient: { type: 'string' }, seq: { type: 'integer' }, outcome: { type: 'string', enum: ['stored', 'duplicate'] } } },
              },
            },
          },
          ...errors,
          422: problemSchema,
        },
      },
    },
    async (request) => csp.ingestResults(who(request), request.body),
  );

  app.get('/api/v1/me', { preHandler: auth, schema: { tags: ['users'], response: { 200: userSchema, ...errors } } }, async (request) => csp.me(who(request)));

  const latestSchema = {
    type: ['object', 'null'],
    properties: { t_ms: { type: 'number' }, mean_hr_bpm: { type: ['number', 'null'] }, sdnn_ms: { type: ['number', 'null'] }, rmssd_ms: { type: ['number', 'null'] } },
  } as const;
  const pageParam = (max: number) => ({ type: 'string', pattern: `^(0|[1-9][0-9]{0,${String(max).length - 1}})$` }) as const;

  app.get(
    '/api/v1/patients',
    {
      preHandler: auth,
      schema: {
        tags: ['patients'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            q: { type: 'string', maxLength: 128 },
            sort: { type: 'string', enum: [...PATIENT_SORTS] },
            order: { type: 'string', enum: ['asc', 'desc'] },
            offset: pageParam(1_000_000),
            limit: { type: 'string', pattern: '^([1-9][0-9]{0,2}|1000)$' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              total: { type: 'integer' },
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    patient_id: { type: 'string' },
                    display_name: { type: 'string' },
                    latest: latestSchema,
                    last_data_ms: { type: ['number', 'null'] },
                    open_alerts: { type: 'integer' },
                  },
                },
              },
              patients: {
                type: 'array',
                description: 'deprecated: every visible patient (id and name); use items',
                items: { type: 'object', properties: { patient_id: { type: 'string' }, display_name: { type: 'string' } } },
              },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const q = request.query as { q?: string; sort?: PatientSort; order?: 'asc' | 'desc'; offset?: string; limit?: string };
      const p = who(request);
      return {
        ...csp.listPatientSummaries(p, {
          ...(q.q !== undefined ? { q: q.q } : {}),
          ...(q.sort !== undefined ? { sort: q.sort } : {}),
          ...(q.order !== undefined ? { order: q.order } : {}),
          ...(q.offset !== undefined ? { offset: Number(q.offset) } : {}),
          ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
        }),
        patients: csp.listPatients(p),
      };
    },
  );

  app.post(
    '/api/v1/patients/:id/alerts/ack',
    {
      preHandler: auth,
      schema: {
        tags: ['records'],
        params: patientParams,
        body: {
          type: 'object',
          required: ['hrv_record', 'alert_type', 'onset_ms'],
          additionalProperties: false,
          properties: {
            hrv_record: { type: 'string', minLength: 1, maxLength: 64 },
            alert_type: { type: 'string', enum: [...ALERT_TYPES] },
            onset_ms: { type: 'number' },
            comment: { type: 'string', maxLength: 1000 },
          },
        },
        response: { 201: recordSchema, ...errors, 422: problemSchema },
      },
    },
    async (request, reply) => reply.code(201).send(await csp.acknowledgeAlert(who(request), (request.params as { id: string }).id, request.body)),
  );

  app.get(
    '/api/v1/patients/:id/records',
    {
      preHandler: auth,
      schema: {
        tags: ['records'],
        params: patientParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            type: { type: 'string', enum: [...RECORD_TYPES] },
            from: timeParam,
            to: timeParam,
            limit: { type: 'string', pattern: '^[1-9][0-9]{0,3}$|^10000$' },
            offset: pageParam(10_000_000),
            order: { type: 'string', enum: ['asc', 'desc'] },
            break_glass_reason: { type: 'string', minLength: 1, maxLength: 500 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              total: { type: 'integer' },
              items: { type: 'array', items: recordSchema },
              records: { type: 'array', items: recordSchema, description: 'deprecated: the same as items' },
              integrity_failures: { type: 'array', items: { type: 'object', properties: { seq: { type: 'integer' }, reason: { type: 'string' } } } },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const q = request.query as { type?: RecordType; from?: string; to?: string; limit?: string; offset?: string; order?: 'asc' | 'desc'; break_glass_reason?: string };
      const answer = await csp.getRecords(who(request), id, {
        ...(q.type ? { type: q.type } : {}),
        ...(q.from !== undefined ? { from_ms: parseTime('from', q.from, 0) } : {}),
        ...(q.to !== undefined ? { to_ms: parseTime('to', q.to, 0) } : {}),
        ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
        ...(q.offset !== undefined ? { offset: Number(q.offset) } : {}),
        ...(q.order !== undefined ? { order: q.order } : {}),
        ...(q.break_glass_reason !== undefined ? { break_glass_reason: q.break_glass_reason } : {}),
      });
      return { total: answer.total, items: answer.records, records: answer.records, integrity_failures: answer.integrity_failures };
    },
  );

  app.post(
    '/api/v1/patients/:id/records',
    {
      preHandler: auth,
      // Uploaded RR and ECG files are larger than other bodies: a day of RR intervals is about 0.6 MB.
      bodyLimit: RECORD_BODY_LIMIT,
      schema: {
        tags: ['records'],
        params: patientParams,
        body: {
          type: 'object',
          required: ['type', 'data'],
          additionalProperties: false,
          properties: {
            type: { type: 'string', enum: RECORD_TYPES.filter((t) => t !== 'hrv' && t !== 'prescription') },
            t_ms: { type: 'integer', minimum: 0, maximum: 8.64e15 },
            data: { type: 'object', maxProperties: 64 },
          },
        },
        response: { 201: recordSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const body = request.body as { type: RecordType; t_ms?: number; data: Record<string, unknown> };
      const rec = await csp.appendRecord(who(request), id, body);
      return reply.code(201).send(rec);
    },
  );

  app.post(
    '/api/v1/patients/:id/prescriptions',
    {
      preHandler: auth,
      schema: {
        tags: ['records'],
        params: patientParams,
        body: {
          type: 'object',
          required: ['text'],
          additionalProperties: false,
          properties: {
            text: { type: 'string', minLength: 1, maxLength: 4000 },
            medication: { type: 'string', maxLength: 200 },
            dose: { type: 'string', maxLength: 200 },
            valid_until: { type: 'string', maxLength: 40 },
          },
        },
        response: { 201: recordSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const rec = await csp.appendRecord(who(request), id, { type: 'prescription', data: request.body as Record<string, unknown> });
      return reply.code(201).send(rec);
    },
  );

  const aggregateQuery = {
    type: 'object',
    required: ['metric'],
    additionalProperties: false,
    properties: { metric: { type: 'string', enum: [...AGGREGATE_METRICS] }, from: timeParam, to: timeParam },
  } as const;
  const aggregateResponse = {
    type: 'object',
    properties: {
      metric: { type: 'string' },
      mean: { type: ['number', 'null'] },
      n: { type: 'integer' },
      patients: { type: 'integer' },
      from_ms: { type: 'integer' },
      to_ms: { type: 'integer' },
    },
  } as const;
  const window = (q: { from?: string; to?: string }): [number, number] => {
    const to = parseTime('to', q.to, Date.now());
    return [parseTime('from', q.from, to - 24 * 3600_000), to];
  };

  app.get(
    '/api/v1/patients/:id/aggregates',
    { preHandler: auth, schema: { tags: ['aggregates'], params: patientParams, querystring: aggregateQuery, response: { 200: aggregateResponse, ...errors } } },
    async (request) => {
      const { id } = request.params as { id: string };
      const q = request.query as { metric: AggregateMetric; from?: string; to?: string };
      const [from, to] = window(q);
      return csp.aggregate(who(request), { patient_id: id }, q.metric, from, to);
    },
  );

  app.get(
    '/api/v1/aggregates',
    { preHandler: auth, schema: { tags: ['aggregates'], querystring: aggregateQuery, response: { 200: aggregateResponse, ...errors } } },
    async (request) => {
      const q = request.query as { metric: AggregateMetric; from?: string; to?: string };
      const [from, to] = window(q);
      return csp.aggregate(who(request), { mine: true }, q.metric, from, to);
    },
  );

  app.get(
    '/api/v1/users',
    { preHandler: auth, schema: { tags: ['users'], response: { 200: { type: 'object', properties: { users: { type: 'array', items: userSchema } } }, ...errors } } },
    async (request) => ({ users: csp.listUsers(who(request)) }),
  );

  app.post(
    '/api/v1/users',
    {
      preHandler: auth,
      schema: {
        tags: ['users'],
        body: {
          type: 'object',
          required: ['username', 'password', 'role'],
          additionalProperties: false,
          properties: {
            username: { type: 'string', minLength: 3, maxLength: 64 },
            password: { type: 'string', minLength: 1, maxLength: 256 },
            role: { type: 'string', enum: [...ROLES] },
            display_name: { type: 'string', maxLength: 128 },
            patient_id: idString,
            patients: idList,
          },
        },
        response: { 201: userSchema, ...errors, 422: problemSchema },
      },
    },
    async (request, reply) => {
      const body = request.body as { username: string; password: string; role: Role; display_name?: string; patient_id?: string; patients?: string[] };
      return reply.code(201).send(await csp.registerUser(who(request), body));
    },
  );

  app.put(
    '/api/v1/users/:id/assignments',
    {
      preHandler: auth,
      schema: {
        tags: ['users'],
        params: patientParams,
        body: {
          type: 'object',
          required: ['patients'],
          additionalProperties: false,
          properties: { patients: idList },
        },
        response: { 200: userSchema, ...errors },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      return csp.setAssignments(who(request), id, (request.body as { patients: string[] }).patients);
    },
  );

  const userParams = patientParams;

  app.post(
    '/api/v1/users/:id/disable',
    {
      preHandler: auth,
      schema: {
        tags: ['users'],
        params: userParams,
        body: { type: 'object', required: ['disabled'], additionalProperties: false, properties: { disabled: { type: 'boolean' } } },
        response: { 200: userSchema, ...errors },
      },
    },
    async (request) => csp.setUserDisabled(who(request), (request.params as { id: string }).id, (request.body as { disabled: boolean }).disabled),
  );

  app.post(
    '/api/v1/users/:id/password',
    {
      preHandler: auth,
      schema: {
        tags: ['users'],
        params: userParams,
        body: { type: 'object', required: ['password'], additionalProperties: false, properties: { password: { type: 'string', minLength: 1, maxLength: 256 } } },
        response: { 200: userSchema, ...errors },
      },
    },
    async (request) => csp.resetPassword(who(request), (request.params as { id: string }).id, (request.body as { password: string }).password),
  );

  app.get(
    '/api/v1/audit',
    {
      preHandler: auth,
      schema: {
        tags: ['audit'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            q: { type: 'string', maxLength: 200 },
            actor: { type: 'string', maxLength: 200 },
            action: { type: 'string', maxLength: 100 },
            outcome: { type: 'string', enum: ['ok', 'denied', 'error'] },
            from: timeParam,
            to: timeParam,
            offset: pageParam(100_000_000),
            limit: { type: 'string', pattern: '^([1-9][0-9]{0,2}|1000)$' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              total: { type: 'integer' },
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    seq: { type: 'integer' },
                    t_ms: { type: 'integer' },
                    actor: { type: 'string' },
                    action: { type: 'string' },
                    target: { type: 'string' },
                    outcome: { type: 'string' },
                    flagged: { type: 'boolean' },
                    detail: { type: 'object', additionalProperties: true },
                    hash: { type: 'string' },
                  },
                },
              },
              verification: { type: 'object', properties: { ok: { type: 'boolean' }, entries: { type: 'integer' }, problem: { type: 'string' }, seq: { type: 'integer' } } },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const q = request.query as { q?: string; actor?: string; action?: string; outcome?: 'ok' | 'denied' | 'error'; from?: string; to?: string; offset?: string; limit?: string };
      return csp.searchAudit(who(request), {
        ...(q.q ? { q: q.q } : {}),
        ...(q.actor ? { actor: q.actor } : {}),
        ...(q.action ? { action: q.action } : {}),
        ...(q.outcome ? { outcome: q.outcome } : {}),
        ...(q.from !== undefined ? { from_ms: parseTime('from', q.from, 0) } : {}),
        ...(q.to !== undefined ? { to_ms: parseTime('to', q.to, 0) } : {}),
        ...(q.offset !== undefined ? { offset: Number(q.offset) } : {}),
        ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
      });
    },
  );

  app.get('/api/v1/audit/verify', { preHandler: auth, schema: { tags: ['audit'], response: { 200: { type: 'object', properties: { ok: { type: 'boolean' }, entries: { type: 'integer' }, problem: { type: 'string' }, seq: { type: 'integer' } } }, ...errors } } }, async (request) => {
    const p = who(request);
    if (p.kind !== 'user' || p.user.role !== 'admin') {
      await csp.audit.append({ actor: principalName(p), action: 'audit.verify', outcome: 'denied' });
      throw new ForbiddenError('only an admin verifies the audit log');
    }
    return csp.verifyAudit();
  });

  // Live updates: server-sent events of new records of one patient the caller may see. The decision is
  // not made once at connect: before every event and every `liveRecheckMs` the bearer token is verified
  // again and the policy asked again, so an expired token, a disabled user or a revoked assignment ends
  // the stream within seconds.
  const recheckMs = opts.liveRecheckMs ?? 2_000;
  app.get('/api/v1/patients/:id/live', { preHandler: auth, schema: { tags: ['records'], params: patientParams } }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const p = who(request);
    const token = bearerToken(request)!;
    if (decideRead(p)(id) !== 'allow') {
      await csp.audit.append({ actor: principalName(p), action: 'record.live', target: id, outcome: 'denied' });
      return sendProblem(reply, request, 404, 'HRV_ERR_NOT_FOUND', 'no such patient');
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    raw.write(': connected\n\n');
    let open = true;
    const stillAllowed = async (): Promise<string | undefined> => {
      try {
        const now = await csp.authenticate(token);
        return decideRead(now)(id) === 'allow' ? undefined : 'access to this patient was withdrawn';
      } catch (err) {
        return err instanceof Error ? err.message : 'not authenticated';
      }
    };
    const end = (reason: string): void => {
      if (!open) return;
      open = false;
      cleanup();
      raw.write(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
      raw.end();
      void csp.audit.append({ actor: principalName(p), action: 'record.live.ended', target: id, outcome: 'denied', detail: { reason } }).catch(() => undefined);
    };
    // Events are written in order, each after its own check.
    let queue: Promise<void> = Promise.resolve();
    const onRecord = (rec: ClinicalRecord): void => {
      if (rec.patient_id !== id) return;
      queue = queue.then(async () => {
        if (!open) return;
        const denied = await stillAllowed();
        if (denied !== undefined) return end(denied);
        raw.write(`event: record\nid: ${rec.id}\ndata: ${JSON.stringify(rec)}\n\n`);
      });
    };
    const recheck = setInterval(() => {
      queue = queue.then(async () => {
        if (!open) return;
        const denied = await stillAllowed();
        if (denied !== undefined) end(denied);
      });
    }, recheckMs);
    const ping = setInterval(() => raw.write(': ping\n\n'), 15_000);
    const cleanup = (): void => {
      clearInterval(ping);
      clearInterval(recheck);
      csp.events.off('record', onRecord);
    };
    csp.events.on('record', onRecord);
    request.raw.on('close', () => {
      open = false;
      cleanup();
    });
    await csp.audit.append({ actor: principalName(p), action: 'record.live', target: id, outcome: 'ok' });
  });

  return app;
}
