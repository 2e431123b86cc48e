/** Means of an HRV metric over a time range, computed by the SP under Paillier: one patient's, or all the caller's patients'. */
import { aggregateAnswerSchema, aggregateQuery, errorResponses, personParams } from '../schemas.js';
import { lastDayByDefault as range, type RoutePlugin } from './context.js';

export const aggregateRoutes: RoutePlugin = async (app, { csp, guard }) => {
  const response = { 200: aggregateAnswerSchema, ...errorResponses };

  app.get(
    '/api/v1/patients/:id/aggregates',
    { onRequest: guard.auth, schema: { tags: ['aggregates'], params: personParams, querystring: aggregateQuery, response } },
    async (request) => csp.aggregate(guard.who(request), { patient_id: request.params.id }, request.query.metric, ...range(request.query)),
  );

  app.get('/api/v1/aggregates', { onRequest: guard.auth, schema: { tags: ['aggregates'], querystring: aggregateQuery, response } }, async (request) =>
    csp.aggregate(guard.who(request), { mine: true }, request.query.metric, ...range(request.query)),
  );
};
