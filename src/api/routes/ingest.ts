/**
 * The ingest of verified HRV results from a gateway, with its device credential (a compact JWS it signs
 * itself). Idempotent by (gateway, patient, seq) in the CSP; the body is the ingest contract.
 */
import { ingestAnswerSchema, ingestRequestSchema } from '../../contracts/index.js';
import { errorResponses, problemSchema } from '../schemas.js';
import { contractBody } from '../validation.js';
import type { RoutePlugin } from './context.js';

/** Largest ingest body, bytes: up to MAX_INGEST_ITEMS results with their beats. */
export const INGEST_BODY_LIMIT = 16 * 1024 * 1024;

export const ingestRoutes: RoutePlugin = async (app, { csp, guard }) => {
  app.post(
    '/api/v1/ingest/results',
    {
      // The device is identified before its (up to 16 MB) body is checked against the contract.
      onRequest: guard.deviceAuth,
      bodyLimit: INGEST_BODY_LIMIT,
      schema: {
        tags: ['ingest'],
        description: 'Verified HRV results from a gateway (device credential: a compact JWS, see docs/protocol.md).',
        body: contractBody('ingest request', ingestRequestSchema),
        response: { 200: ingestAnswerSchema, ...errorResponses, 422: problemSchema },
      },
    },
    async (request) => csp.ingestResults(guard.who(request), request.body),
  );
};
