/** Gateways' credentials (admin) and the ingest of their verified results (device credential). */
import { z } from 'zod';
import { deviceRecordSchema, deviceRegistrationSchema } from '../../csp/index.js';
import { ingestAnswerSchema, ingestRequestSchema, wireIdSchema } from '../../contracts/index.js';
import { errorResponses, problemSchema } from '../schemas.js';
import { contractBody } from '../validation.js';
import type { RoutePlugin } from './context.js';

/** Largest ingest body, bytes: up to MAX_INGEST_ITEMS results with their beats. */
export const INGEST_BODY_LIMIT = 16 * 1024 * 1024;

export const deviceRoutes: RoutePlugin = async (app, { csp, guard }) => {
  app.post(
    '/api/v1/devices',
    { preHandler: guard.auth, schema: { tags: ['devices'], body: deviceRegistrationSchema, response: { 201: deviceRecordSchema, ...errorResponses } } },
    async (request, reply) => reply.code(201).send(await csp.registerDevice(guard.who(request), request.body)),
  );

  app.get(
    '/api/v1/devices',
    { preHandler: guard.auth, schema: { tags: ['devices'], response: { 200: z.object({ devices: z.array(deviceRecordSchema) }), ...errorResponses } } },
    async (request) => ({ devices: csp.listDevices(guard.who(request)) }),
  );

  app.delete(
    '/api/v1/devices/:id',
    { preHandler: guard.auth, schema: { tags: ['devices'], params: z.strictObject({ id: wireIdSchema }), response: { 200: deviceRecordSchema, ...errorResponses } } },
    async (request) => csp.revokeDevice(guard.who(request), request.params.id),
  );

  app.post(
    '/api/v1/ingest/results',
    {
      // The device is identified before its (up to 16 MB) body is checked against the contract.
      preValidation: guard.deviceAuth,
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
