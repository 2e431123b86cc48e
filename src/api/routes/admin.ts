/** User administration: list and register users, set assignments, disable, reset a password. The CSP's policy decides who may. */
import { z } from 'zod';
import { assignmentsBody, disableBody, errorResponses, passwordBody, personParams, problemSchema, userRegistrationBody, userViewSchema } from '../schemas.js';
import type { RoutePlugin } from './context.js';

export const adminRoutes: RoutePlugin = async (app, { csp, guard }) => {
  const user = { 200: userViewSchema, ...errorResponses };

  app.get(
    '/api/v1/users',
    { onRequest: guard.auth, schema: { tags: ['users'], response: { 200: z.object({ users: z.array(userViewSchema) }), ...errorResponses } } },
    async (request) => ({ users: csp.listUsers(guard.who(request)) }),
  );

  app.post(
    '/api/v1/users',
    { onRequest: guard.auth, schema: { tags: ['users'], body: userRegistrationBody, response: { 201: userViewSchema, ...errorResponses, 422: problemSchema } } },
    async (request, reply) => reply.code(201).send(await csp.registerUser(guard.who(request), request.body)),
  );

  app.put(
    '/api/v1/users/:id/assignments',
    { onRequest: guard.auth, schema: { tags: ['users'], params: personParams, body: assignmentsBody, response: user } },
    async (request) => csp.setAssignments(guard.who(request), request.params.id, request.body.patients),
  );

  app.post(
    '/api/v1/users/:id/disable',
    { onRequest: guard.auth, schema: { tags: ['users'], params: personParams, body: disableBody, response: user } },
    async (request) => csp.setUserDisabled(guard.who(request), request.params.id, request.body.disabled),
  );

  app.post(
    '/api/v1/users/:id/password',
    { onRequest: guard.auth, schema: { tags: ['users'], params: personParams, body: passwordBody, response: user } },
    async (request) => csp.resetPassword(guard.who(request), request.params.id, request.body.password),
  );
};
