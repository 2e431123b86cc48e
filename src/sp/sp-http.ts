/**
 * The SP as its own HTTP service (`hrvault sp`): one POST route that carries the wire messages of
 * sp-protocol.ts. TLS belongs in front of it in production; the messages are protected either way.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { SpService } from './sp-service.js';

/** Path of the SP's single route. */
export const SP_WIRE_PATH = '/sp/v1/wire';

/** Builds the SP's HTTP server (not yet listening). */
export async function buildSpHttp(sp: SpService, options: { bodyLimit?: number; logger?: boolean } = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: options.bodyLimit ?? 16 * 1024 * 1024, onProtoPoisoning: 'error', onConstructorPoisoning: 'error' });
  app.post(SP_WIRE_PATH, async (request) => sp.handle(request.body));
  app.get('/healthz', async () => ({ ok: true }));
  return app;
}
