/** Gateways' credentials: an admin registers, lists and revokes them (their results arrive by routes/ingest.ts). */
import { z } from 'zod';
import { deviceRecordSchema, deviceRegistrationSchema } from '../../csp/index.js';
import { wireIdSchema } from '../../contracts/index.js';
import { errorResponses } from '../schemas.js';
import type { RoutePlugin } from './context.js';

export const deviceRoutes: RoutePlugin = async (app, { csp, guard }) => {
  app.post(
    '/api/v1/devices',
    { onRequest: guard.auth, schema: { tags: ['devices'], body: deviceRegistrationSchema, response: { 201: deviceRecordSchema, ...errorResponses } } },
    async (request, reply) => reply.code(201).send(await csp.registerDevice(guard.who(request), request.body)),
  );

  app.get(
    '/api/v1/devices',
    { onRequest: guard.auth, schema: { tags: ['devices'], response: { 200: z.object({ devices: z.array(deviceRecordSchema) }), ...errorResponses } } },
    async (request) => ({ devices: csp.listDevices(guard.who(request)) }),
  );

  app.delete(
    '/api/v1/devices/:id',
    { onRequest: guard.auth, schema: { tags: ['devices'], params: z.strictObject({ id: wireIdSchema }), response: { 200: deviceRecordSchema, ...errorResponses } } },
    async (request) => csp.revokeDevice(guard.who(request), request.params.id),
  );
};
