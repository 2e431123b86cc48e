/**
 * The HTTP API in front of the CSP: fastify with a zod schema on every route (fastify-type-provider-zod;
 * unknown fields refused), bearer access tokens, RFC 9457 problems, an OpenAPI document, and live record
 * updates over server-sent events. One plugin per feature under routes/; domain decisions stay in the CSP.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import fastifyStatic from '@fastify/static';
import { jsonSchemaTransform, serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { CspService } from '../csp/index.js';
import { makeGuard } from './guard.js';
import { problemErrorHandler, sendProblem } from './problem.js';
import { apiValidatorCompiler } from './validation.js';
import { assertJsonDepth } from './json-depth.js';
import { addSecurityHeaders } from './security-headers.js';
import type { RouteContext } from './routes/context.js';
import { adminRoutes } from './routes/admin.js';
import { aggregateRoutes } from './routes/aggregates.js';
import { auditRoutes } from './routes/audit.js';
import { deviceRoutes } from './routes/devices.js';
import { ingestRoutes } from './routes/ingest.js';
import { liveRoutes } from './routes/live.js';
import { patientRoutes } from './routes/patients.js';
import { recordRoutes } from './routes/records.js';
import { sessionRoutes } from './routes/session.js';
import { trendRoutes } from './routes/trends.js';

export { INGEST_BODY_LIMIT } from './routes/ingest.js';
export { RECORD_BODY_LIMIT } from './routes/records.js';
export { REFRESH_COOKIE, readCookie } from './routes/session.js';
export { parseTime } from './routes/context.js';

export interface ApiOptions {
  csp: CspService;
  /** Largest accepted request body, bytes (default 64 KiB). */
  bodyLimit?: number;
  logger?: boolean;
  /** Directory of the built dashboard (dist/web), served at `/` when given. */
  webRoot?: string;
  /** How often a live stream re-checks its caller's token and rights, ms (default 2000). */
  liveRecheckMs?: number;
  /**
   * Behind a reverse proxy: take the client address from X-Forwarded-For (the login throttle counts per
   * address). Off by default: without a proxy that header is the caller's own claim.
   */
  trustProxy?: boolean | string;
}

/**
 * Fastify's trustProxy for a config value. `true` trusts one hop (the proxy in front), not every hop:
 * fastify's own `true` takes the left-most X-Forwarded-For entry, which the client writes itself.
 */
export function proxyTrust(value: boolean | string | undefined): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (value === undefined || value === false) return false;
  // Hop 0 is the socket's peer (the proxy); trusting n hops takes the address the n-th proxy saw.
  if (value === true) return (_address: string, hop: number) => hop < 1;
  const text = value.trim();
  if (/^\d+$/.test(text)) return (_address: string, hop: number) => hop < Number(text);
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Builds the API (not yet listening). */
export async function buildApi(opts: ApiOptions): Promise<FastifyInstance> {
  const { csp } = opts;
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit ?? 64 * 1024,
    trustProxy: proxyTrust(opts.trustProxy),
    // Prototype-pollution payloads are refused outright rather than silently stripped.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
  }).withTypeProvider<ZodTypeProvider>();
  // Zod never coerces: a number where a string belongs is an error, not silently converted.
  app.setValidatorCompiler(apiValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'hrvault API', version: '1.0.0', description: 'Access to encrypted cardiac monitoring records through the CSP.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  // Security events the CSP records (refused device credentials, with their real reason) go to the edge's log.
  if (opts.logger === true) csp.useLogger(app.log);
  // Before anything else, so every answer (errors, 404s, the dashboard's files) carries them.
  app.addHook('onRequest', addSecurityHeaders);
  // Fastify's own JSON parser (with its prototype-poisoning checks), after a bound on the nesting depth.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    try {
      assertJsonDepth(body as string);
    } catch (err) {
      done(err as Error, undefined);
      return;
    }
    void defaultJson(request, body as string, done);
  });
  app.setErrorHandler(problemErrorHandler);
  app.setNotFoundHandler((request, reply) => sendProblem(reply, request, 404, 'HRV_ERR_NOT_FOUND', 'no such route'));

  if (opts.webRoot !== undefined) {
    // Only the files present at start are routed (no wildcard), so unknown paths still get a problem+json 404.
    await app.register(fastifyStatic, { root: opts.webRoot, prefix: '/', wildcard: false, index: 'index.html' });
  }

  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true, sp_key_id: csp.link.keyId ?? null }));

  const context: RouteContext = { csp, guard: makeGuard(csp) };
  await app.register(sessionRoutes, context);
  await app.register(deviceRoutes, context);
  await app.register(ingestRoutes, context);
  await app.register(patientRoutes, context);
  await app.register(recordRoutes, context);
  await app.register(trendRoutes, context);
  await app.register(aggregateRoutes, context);
  await app.register(adminRoutes, context);
  await app.register(auditRoutes, context);
  await app.register(liveRoutes, { ...context, recheckMs: opts.liveRecheckMs ?? 2_000 });
  return app;
}
