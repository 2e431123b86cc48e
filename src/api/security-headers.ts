/**
 * Response headers every answer carries: API answers (tokens, clinical data) are never stored by a browser
 * or a proxy cache, nothing is MIME-sniffed, and no page of ours may be framed (clickjacking). The
 * dashboard's policy admits only its own origin's scripts, styles, workers and API.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Content-Security-Policy of API answers: nothing may load, nothing may frame them. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** Content-Security-Policy of the dashboard: own origin only (scripts, styles, the chart worker, the API and its event stream). */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** The security headers for a request to `url` (path with query), as name → value. */
export function securityHeaders(url: string): Record<string, string> {
  const api = url.startsWith('/api/') || url === '/healthz' || url.startsWith('/healthz?');
  return {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'content-security-policy': api ? API_CSP : DASHBOARD_CSP,
    ...(api ? { 'cache-control': 'no-store' } : {}),
  };
}

/** onRequest hook: sets the headers first, so errors, 404s and hijacked streams carry them too. */
export async function addSecurityHeaders(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const headers = securityHeaders(request.url);
  // On the raw response as well: a hijacked reply (the live stream) writes its head without fastify's headers.
  for (const [name, value] of Object.entries(headers)) reply.raw.setHeader(name, value);
  reply.headers(headers);
}
