/**
 * A patient's records: paged reads, appends (vitals, notes, uploaded RR and ECG files, which the CSP
 * parses and analyses), prescriptions and alert acknowledgements. The record data is checked by the CSP
 * against its type's contract; here only the envelope.
 */
import { z } from 'zod';
import { alertAckDataSchema, prescriptionDataSchema, RECORD_TYPES } from '../../contracts/index.js';
import { errorResponses, personParams, problemSchema, recordsAnswerSchema, recordsQuery, recordViewSchema } from '../schemas.js';
import { timeRange, type RoutePlugin } from './context.js';

/** Largest record body (uploaded files included), bytes. */
export const RECORD_BODY_LIMIT = 2 * 1024 * 1024;

/** An append: any record type but those only the pipeline (`hrv`) or the prescription route write. */
const appendBody = z.strictObject({
  type: z.enum(RECORD_TYPES).exclude(['hrv', 'prescription']),
  t_ms: z.number().int().min(0).max(8.64e15).optional(),
  data: z.record(z.string(), z.unknown()).refine((d) => Object.keys(d).length <= 64, 'must have at most 64 fields'),
});

/**
 * `Idempotency-Key` (RFC draft "The Idempotency-Key HTTP Header Field"): a retry after a lost answer returns the
 * first record instead of storing a second. Scoped to the caller by the CSP; visible ASCII, 1–255 characters.
 */
const idempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, 'Idempotency-Key must be 1–255 visible ASCII characters')
    .optional()
    .describe('a retry with the same key and body returns the first record; another body under the same key is 409'),
});
const idempotency = (headers: { 'idempotency-key'?: string | undefined }) =>
  headers['idempotency-key'] === undefined ? {} : { idempotencyKey: headers['idempotency-key'] };

export const recordRoutes: RoutePlugin = async (app, { csp, guard }) => {
  const created = { 201: recordViewSchema, ...errorResponses };

  app.get(
    '/api/v1/patients/:id/records',
    { onRequest: guard.auth, schema: { tags: ['records'], params: personParams, querystring: recordsQuery, response: { 200: recordsAnswerSchema, ...errorResponses } } },
    async (request) => {
      const { from, to, ...q } = request.query;
      const answer = await csp.getRecords(guard.who(request), request.params.id, { ...q, ...timeRange({ from, to }) });
      return { total: answer.total, items: answer.records, records: answer.records, integrity_failures: answer.integrity_failures };
    },
  );

  app.post(
    '/api/v1/patients/:id/records',
    // Uploaded RR and ECG files are larger than other bodies: a day of RR intervals is about 0.6 MB.
    { onRequest: guard.auth, bodyLimit: RECORD_BODY_LIMIT, schema: { tags: ['records'], params: personParams, headers: idempotencyHeaders, body: appendBody, response: created } },
    async (request, reply) =>
      reply.code(201).send(await csp.appendRecord(guard.who(request), request.params.id, request.body, idempotency(request.headers))),
  );

  app.post(
    '/api/v1/patients/:id/prescriptions',
    { onRequest: guard.auth, schema: { tags: ['records'], params: personParams, headers: idempotencyHeaders, body: prescriptionDataSchema, response: created } },
    async (request, reply) =>
      reply
        .code(201)
        .send(await csp.appendRecord(guard.who(request), request.params.id, { type: 'prescription', data: request.body }, idempotency(request.headers))),
  );

  app.post(
    '/api/v1/patients/:id/alerts/ack',
    { onRequest: guard.auth, schema: { tags: ['records'], params: personParams, headers: idempotencyHeaders, body: alertAckDataSchema, response: { ...created, 422: problemSchema } } },
    async (request, reply) =>
      reply.code(201).send(await csp.acknowledgeAlert(guard.who(request), request.params.id, request.body, idempotency(request.headers))),
  );
};
