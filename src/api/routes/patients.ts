/** The patient list: search, sort and paging over the patients the caller may see, with their headline measures. */
import { errorResponses, patientListQuery, patientListSchema } from '../schemas.js';
import type { RoutePlugin } from './context.js';

export const patientRoutes: RoutePlugin = async (app, { csp, guard }) => {
  app.get(
    '/api/v1/patients',
    { onRequest: guard.auth, schema: { tags: ['patients'], querystring: patientListQuery, response: { 200: patientListSchema, ...errorResponses } } },
    async (request) => {
      const p = guard.who(request);
      return { ...csp.listPatientSummaries(p, request.query), patients: csp.listPatients(p) };
    },
  );
};
