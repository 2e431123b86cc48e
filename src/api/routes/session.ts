/**
 * Sign-in, token refresh, sign-out and who-am-I. The refresh token travels in the body (API clients) or in
 * an HttpOnly cookie (the dashboard, which then keeps no token in JS-readable storage).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AuthError, REFRESH_TOKEN_TTL_S } from '../../csp/index.js';
import { errorResponses, loginBody, refreshBody, tokensSchema, userViewSchema } from '../schemas.js';
import type { RoutePlugin } from './context.js';

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

function setRefreshCookie(request: FastifyRequest, reply: FastifyReply, token: string, maxAgeS = REFRESH_TOKEN_TTL_S): void {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  reply.header('set-cookie', `${REFRESH_COOKIE}=${token}; Path=${REFRESH_COOKIE_PATH}; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${secure}`);
}

/** The body's refresh token, else the cookie's; the body wins when both are present. */
function presentedRefresh(body: z.infer<typeof refreshBody>, request: FastifyRequest): string {
  const token = body?.refresh_token ?? readCookie(request.headers.cookie, REFRESH_COOKIE);
  if (!token) throw new AuthError('no refresh token (body refresh_token or the hrvault_refresh cookie)');
  return token;
}

export const sessionRoutes: RoutePlugin = async (app, { csp, guard }) => {
  const tokenAnswer = { 200: tokensSchema, ...errorResponses };

  app.post('/api/v1/auth/login', { schema: { tags: ['auth'], security: [], body: loginBody, response: tokenAnswer } }, async (request, reply) => {
    const tokens = await csp.login(request.body.username, request.body.password, request.ip);
    setRefreshCookie(request, reply, tokens.refresh_token);
    return { ...tokens, token_type: 'Bearer' as const };
  });

  // First login of an account an admin made or reset: every part of the enrolment code and a password of one's own.
  const enrolBody = z.strictObject({
    username: z.string().min(1).max(64),
    codes: z.array(z.string().min(1).max(256)).min(1).max(16),
    password: z.string().min(1).max(256),
  });
  app.post('/api/v1/auth/enrol', { schema: { tags: ['auth'], security: [], body: enrolBody, response: tokenAnswer } }, async (request, reply) => {
    const tokens = await csp.enrol(request.body.username, request.body.codes, request.body.password, request.ip);
    setRefreshCookie(request, reply, tokens.refresh_token);
    return { ...tokens, token_type: 'Bearer' as const };
  });

  app.post('/api/v1/auth/refresh', { schema: { tags: ['auth'], security: [], body: refreshBody, response: tokenAnswer } }, async (request, reply) => {
    const tokens = await csp.refresh(presentedRefresh(request.body, request));
    setRefreshCookie(request, reply, tokens.refresh_token);
    return { ...tokens, token_type: 'Bearer' as const };
  });

  app.post(
    '/api/v1/auth/logout',
    { onRequest: guard.auth, schema: { tags: ['auth'], body: refreshBody, response: { 204: z.null().describe('no content'), ...errorResponses } } },
    async (request, reply) => {
      await csp.logout(presentedRefresh(request.body, request), guard.who(request), guard.bearerToken(request));
      setRefreshCookie(request, reply, '', 0);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/v1/me',
    { onRequest: guard.auth, schema: { tags: ['users'], response: { 200: z.union([userViewSchema, z.object({ service: z.string() })]), ...errorResponses } } },
    async (request) => csp.me(guard.who(request)),
  );
};
