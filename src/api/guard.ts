/**
 * Who is calling: the bearer token of a user or of a device (gateway), checked by the CSP, and the
 * principal it names, kept per request for the route that runs after. Decisions stay in the CSP's policy.
 */
import type { FastifyRequest } from 'fastify';
import { AuthError, type CspService, type Principal } from '../csp/index.js';

export interface Guard {
  /** onRequest hook: a user's access token, checked before the body is read or validated. */
  auth(request: FastifyRequest): Promise<void>;
  /** A device's compact JWS (the gateway's own credential). */
  deviceAuth(request: FastifyRequest): Promise<void>;
  /** The principal a guard hook established for this request. */
  who(request: FastifyRequest): Principal;
  /** The presented bearer token, if well-formed. */
  bearerToken(request: FastifyRequest): string | undefined;
}

/** The guard hooks for one CSP. */
export function makeGuard(csp: CspService): Guard {
  const principals = new WeakMap<FastifyRequest, Principal>();
  const bearerToken = (request: FastifyRequest): string | undefined => {
    const header = request.headers.authorization;
    return (typeof header === 'string' ? /^Bearer ([A-Za-z0-9_.-]{10,4096})$/.exec(header) : null)?.[1];
  };
  const presented = (request: FastifyRequest): string => {
    const token = bearerToken(request);
    if (!token) throw new AuthError('missing or malformed bearer token');
    return token;
  };
  return {
    bearerToken,
    async auth(request) {
      principals.set(request, await csp.authenticate(presented(request)));
    },
    async deviceAuth(request) {
      principals.set(request, await csp.authenticateDevice(presented(request)));
    },
    who(request) {
      const p = principals.get(request);
      if (!p) throw new AuthError('not authenticated');
      return p;
    },
  };
}
