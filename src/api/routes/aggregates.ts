/** Means of an HRV metric over a time range, computed by the SP under Paillier: one patient's, or all the caller's patients'. */
import { aggregateAnswerSchema, aggregateQuery, errorResponses, personParams } from '../schemas.js';
import { parseTime, type RoutePlugin } from './context.js';

/** The range asked for, in epoch ms; by default the 24 hours up to now. */
function range(q: { from?: string | undefined; to?: string | undefined }): [number, number] {
  const to = parseTime('to', q.to, Date.now());
  return [parseTime('from', q.from, to - 24 * 3600_000), to];
}

export const aggregateRoutes: RoutePlugin = async (app, { csp, guard }) => {
  const response = { 200: aggregateAnswerSchema, ...errorResponses };

  app.get(
    '/api/v1/patients/:id/aggregates',
    { preHandler: guard.auth, schema: { tags: ['aggregates'], params: personParams, querystring: aggregateQuery, response } },
    async (request) => csp.aggregate(guard.who(request), { patient_id: request.params.id }, request.query.metric, ...range(request.query)),
  );

  app.get('/api/v1/aggregates', { preHandler: guard.auth, schema: { tags: ['aggregates'], querystring: aggregateQuery, response } }, async (request) =>
    csp.aggregate(guard.who(request), { mine: true }, request.query.metric, ...range(request.query)),
  );
};
