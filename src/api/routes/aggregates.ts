/**
 * Means of an HRV metric over a time range, computed by the SP under Paillier: one patient's, or all the
 * caller's patients'. An aggregate the SP forged is refused (and suspends aggregates); an admin resumes them.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AggregateIntegrityError, AggregatesSuspendedError } from '../../csp/index.js';
import { sendProblem } from '../problem.js';
import { aggregateAnswerSchema, aggregateQuery, errorResponses, personParams, problemSchema } from '../schemas.js';
import { lastDayByDefault as range, type RoutePlugin } from './context.js';

// Both say "the storage provider is not trusted for aggregates now" (503: no answer until an admin acts);
// neither tells the caller anything about the data.
async function orProblem<T>(request: FastifyRequest, reply: FastifyReply, run: () => Promise<T>): Promise<T | FastifyReply> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof AggregateIntegrityError || err instanceof AggregatesSuspendedError) {
      request.log.warn({ code: err.code }, 'aggregate refused');
      return sendProblem(reply, request, 503, err.code, err instanceof AggregatesSuspendedError ? err.message : 'the storage provider forged an aggregate; aggregates are suspended until an admin resumes them');
    }
    throw err;
  }
}

const resumeBody = z.strictObject({ reason: z.string().min(10).max(500) });

export const aggregateRoutes: RoutePlugin = async (app, { csp, guard }) => {
  const response = { 200: aggregateAnswerSchema, ...errorResponses, 503: problemSchema };

  app.get(
    '/api/v1/patients/:id/aggregates',
    { onRequest: guard.auth, schema: { tags: ['aggregates'], params: personParams, querystring: aggregateQuery, response } },
    async (request, reply) => orProblem(request, reply, () => csp.aggregate(guard.who(request), { patient_id: request.params.id }, request.query.metric, ...range(request.query))),
  );

  app.get('/api/v1/aggregates', { onRequest: guard.auth, schema: { tags: ['aggregates'], querystring: aggregateQuery, response } }, async (request, reply) =>
    orProblem(request, reply, () => csp.aggregate(guard.who(request), { mine: true }, request.query.metric, ...range(request.query))),
  );

  app.post(
    '/api/v1/aggregates/resume',
    {
      onRequest: guard.auth,
      schema: { tags: ['aggregates'], body: resumeBody, response: { 200: z.object({ resumed: z.boolean() }), ...errorResponses } },
    },
    async (request) => ({ resumed: await csp.resumeAggregates(guard.who(request), request.body.reason) }),
  );
};
