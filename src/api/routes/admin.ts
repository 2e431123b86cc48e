/**
 * User administration: list and register users, set assignments, disable, reset a password; and the
 * grants those make (the two-person rule: one admin requests, another approves). The CSP's policy decides
 * who may.
 */
import { z } from 'zod';
import { GRANT_STATES, grantSchema } from '../../csp/index.js';
import { assignmentsBody, disableBody, errorResponses, passwordBody, personParams, problemSchema, userRegistrationBody, userViewSchema } from '../schemas.js';
import type { RoutePlugin } from './context.js';

/** A user with the grant the change made (absent when nothing waits for approval). */
const userWithGrant = userViewSchema.extend({ grant: grantSchema.optional() });
const grantParams = z.strictObject({ id: z.string().regex(/^g-[0-9a-f-]{36}$/, 'a grant id') });
const grantsQuery = z.strictObject({ state: z.enum(GRANT_STATES).optional() });

export const adminRoutes: RoutePlugin = async (app, { csp, guard }) => {
  const user = { 200: userViewSchema, ...errorResponses };
  // 202: a grant waits for another admin's approval; 200/201: the change is in effect.
  const granted = { 200: userWithGrant, 201: userWithGrant, 202: userWithGrant, ...errorResponses, 422: problemSchema };

  app.get(
    '/api/v1/users',
    { onRequest: guard.auth, schema: { tags: ['users'], response: { 200: z.object({ users: z.array(userViewSchema) }), ...errorResponses } } },
    async (request) => ({ users: csp.listUsers(guard.who(request)) }),
  );

  app.post(
    '/api/v1/users',
    { onRequest: guard.auth, schema: { tags: ['users'], body: userRegistrationBody, response: granted } },
    async (request, reply) => {
      const { user: u, grant } = await csp.requestUser(guard.who(request), request.body);
      return reply.code(grant.state === 'pending' ? 202 : 201).send({ ...u, grant });
    },
  );

  app.put(
    '/api/v1/users/:id/assignments',
    { onRequest: guard.auth, schema: { tags: ['users'], params: personParams, body: assignmentsBody, response: granted } },
    async (request, reply) => {
      const out = await csp.setAssignments(guard.who(request), request.params.id, request.body.patients);
      return reply.code(out.grant?.state === 'pending' ? 202 : 200).send(out);
    },
  );

  app.post(
    '/api/v1/users/:id/disable',
    { onRequest: guard.auth, schema: { tags: ['users'], params: personParams, body: disableBody, response: user } },
    async (request) => csp.setUserDisabled(guard.who(request), request.params.id, request.body.disabled),
  );

  app.post(
    '/api/v1/users/:id/password',
    { onRequest: guard.auth, schema: { tags: ['users'], params: personParams, body: passwordBody, response: granted } },
    async (request, reply) => {
      const out = await csp.resetPassword(guard.who(request), request.params.id, request.body.password);
      return reply.code(out.grant.state === 'pending' ? 202 : 200).send(out);
    },
  );

  app.get(
    '/api/v1/grants',
    { onRequest: guard.auth, schema: { tags: ['users'], querystring: grantsQuery, response: { 200: z.object({ grants: z.array(grantSchema) }), ...errorResponses } } },
    async (request) => ({ grants: await csp.listGrants(guard.who(request), request.query.state) }),
  );

  const decided = { 200: z.object({ grant: grantSchema, enrolment_code: z.string().optional() }), ...errorResponses };
  app.post(
    '/api/v1/grants/:id/approve',
    { onRequest: guard.auth, schema: { tags: ['users'], params: grantParams, body: z.strictObject({}).nullish(), response: decided } },
    async (request) => csp.approveGrant(guard.who(request), request.params.id),
  );

  app.post(
    '/api/v1/grants/:id/reject',
    { onRequest: guard.auth, schema: { tags: ['users'], params: grantParams, body: z.strictObject({}).nullish(), response: decided } },
    async (request) => csp.rejectGrant(guard.who(request), request.params.id),
  );
};
