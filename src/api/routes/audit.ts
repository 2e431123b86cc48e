/** The audit log: search with its chain's verification, and verification alone (admin). */
import { ForbiddenError, principalName } from '../../csp/index.js';
import { auditAnswerSchema, auditQuery, auditVerificationSchema, errorResponses } from '../schemas.js';
import { timeRange, type RoutePlugin } from './context.js';

export const auditRoutes: RoutePlugin = async (app, { csp, guard }) => {
  app.get(
    '/api/v1/audit',
    { onRequest: guard.auth, schema: { tags: ['audit'], querystring: auditQuery, response: { 200: auditAnswerSchema, ...errorResponses } } },
    async (request) => {
      const { from, to, ...q } = request.query;
      return csp.searchAudit(guard.who(request), { ...q, ...timeRange({ from, to }) });
    },
  );

  app.get(
    '/api/v1/audit/verify',
    { onRequest: guard.auth, schema: { tags: ['audit'], response: { 200: auditVerificationSchema, ...errorResponses } } },
    async (request) => {
      const p = guard.who(request);
      if (p.kind !== 'user' || p.user.role !== 'admin') {
        await csp.audit.append({ actor: principalName(p), action: 'audit.verify', outcome: 'denied' });
        throw new ForbiddenError('only an admin verifies the audit log');
      }
      return csp.verifyAudit();
    },
  );
};
