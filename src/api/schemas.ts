/**
 * The zod shapes of the HTTP surface that are not contracts of their own: the problem answer, tokens,
 * query strings (strings on the wire, numbers after validation) and the views the CSP returns. Record
 * data, alert acknowledgements, prescriptions, device registrations and ingest requests are the
 * contracts' and the CSP's schemas, imported where a route uses them; nothing here restates them.
 */
import { z } from 'zod';
import { AGGREGATE_METRICS, PATIENT_SORTS, ROLES, userRecordSchema } from '../csp/index.js';
import { personIdSchema, RECORD_TYPES } from '../contracts/index.js';

/** RFC 9457 problem details (src/api/problem.ts sends them). */
export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
  instance: z.string().optional(),
  field: z.string().optional(),
});

/** The error answers every authenticated route may give. */
export const errorResponses = {
  400: problemSchema,
  401: problemSchema,
  403: problemSchema,
  404: problemSchema,
  413: problemSchema,
  429: problemSchema,
} as const;

/** `/patients/:id/...` and `/users/:id/...`: the CSP's person-id alphabet. */
export const personParams = z.strictObject({ id: personIdSchema });

/** A page offset in a query string: decimal digits without a leading zero, as many as `max` has. */
export function offsetParam(max: number) {
  return z
    .string()
    .regex(new RegExp(`^(0|[1-9][0-9]{0,${String(max).length - 1}})$`), `must be a whole number below ${10 ** String(max).length}`)
    .transform(Number);
}

/** A page size in a query string: a whole number from 1 to `max`. */
export function limitParam(max: number) {
  return z
    .string()
    .regex(/^[1-9][0-9]{0,15}$/, `must be a whole number from 1 to ${max}`)
    .transform(Number)
    .refine((n) => n <= max, `must be at most ${max}`);
}

/** A time in a query string; `parseTime` reads it, so a bad one is named by its own field. */
export const timeParam = z.string().max(40).describe('ISO 8601 date-time or milliseconds since the epoch');

export const sortOrder = z.enum(['asc', 'desc']);

export const tokensSchema = z.object({
  access_token: z.string(),
  refresh_token: z.string(),
  /** Seconds. */
  expires_in: z.number().int(),
  token_type: z.literal('Bearer'),
});

/** A user as callers see it: the CSP's user record without the verifier. */
export const userViewSchema = userRecordSchema.omit({ verifier: true, enrol: true });

/** A stored record as readers get it (author_name is looked up when read, absent on an append's answer). */
export const recordViewSchema = z.object({
  id: z.string(),
  patient_id: z.string(),
  type: z.enum(RECORD_TYPES),
  t_ms: z.number(),
  author: z.string(),
  author_name: z.string().optional(),
  created_ms: z.number(),
  data: z.record(z.string(), z.unknown()),
});

export const patientListQuery = z.strictObject({
  q: z.string().max(128).optional(),
  sort: z.enum(PATIENT_SORTS).optional(),
  order: sortOrder.optional(),
  offset: offsetParam(1_000_000).optional(),
  limit: limitParam(1000).optional(),
});

const headline = z.object({ t_ms: z.number(), mean_hr_bpm: z.number().nullable(), sdnn_ms: z.number().nullable(), rmssd_ms: z.number().nullable() });

export const patientListSchema = z.object({
  total: z.number().int(),
  items: z.array(
    z.object({ patient_id: z.string(), display_name: z.string(), latest: headline.nullable(), last_data_ms: z.number().nullable(), open_alerts: z.number().int() }),
  ),
  patients: z.array(z.object({ patient_id: z.string(), display_name: z.string() })).describe('deprecated: every visible patient (id and name); use items'),
});

export const recordsQuery = z.strictObject({
  type: z.enum(RECORD_TYPES).optional(),
  from: timeParam.optional(),
  to: timeParam.optional(),
  limit: limitParam(10_000).optional(),
  offset: offsetParam(10_000_000).optional(),
  order: sortOrder.optional(),
  break_glass_reason: z.string().min(1).max(500).optional(),
});

export const recordsAnswerSchema = z.object({
  total: z.number().int(),
  items: z.array(recordViewSchema),
  records: z.array(recordViewSchema).describe('deprecated: the same as items'),
  integrity_failures: z.array(z.object({ seq: z.number().int(), reason: z.string() })),
});

export const aggregateQuery = z.strictObject({ metric: z.enum(AGGREGATE_METRICS), from: timeParam.optional(), to: timeParam.optional() });

export const aggregateAnswerSchema = z.object({
  metric: z.string(),
  mean: z.number().nullable(),
  n: z.number().int(),
  patients: z.number().int().optional(),
  from_ms: z.number(),
  to_ms: z.number(),
});

/** Passwords: at most 256 characters here; the CSP's own rules (length) answer with their reason. */
const password = z.string().min(1).max(256);

export const loginBody = z.strictObject({ username: z.string().min(1).max(64), password });

/** The refresh token in the body (API clients), or no body at all (the dashboard sends the cookie). */
export const refreshBody = z.strictObject({ refresh_token: z.string().min(1).max(128) }).nullish();

export const userRegistrationBody = z.strictObject({
  username: z.string().min(3).max(64),
  password,
  role: z.enum(ROLES),
  display_name: z.string().max(128).optional(),
  patient_id: personIdSchema.optional(),
  patients: z.array(personIdSchema).max(10_000).optional(),
});

export const assignmentsBody = z.strictObject({ patients: z.array(personIdSchema).max(10_000) });
export const disableBody = z.strictObject({ disabled: z.boolean() });
export const passwordBody = z.strictObject({ password });

export const auditQuery = z.strictObject({
  q: z.string().max(200).optional(),
  actor: z.string().max(200).optional(),
  action: z.string().max(100).optional(),
  outcome: z.enum(['ok', 'denied', 'error']).optional(),
  from: timeParam.optional(),
  to: timeParam.optional(),
  offset: offsetParam(100_000_000).optional(),
  limit: limitParam(1000).optional(),
});

export const auditVerificationSchema = z.object({ ok: z.boolean(), entries: z.number().int(), problem: z.string().optional(), seq: z.number().int().optional() });

export const auditAnswerSchema = z.object({
  total: z.number().int(),
  items: z.array(
    z.object({
      seq: z.number().int(),
      t_ms: z.number(),
      actor: z.string(),
      action: z.string(),
      target: z.string().optional(),
      outcome: z.string(),
      flagged: z.boolean().optional(),
      detail: z.record(z.string(), z.unknown()).optional(),
      hash: z.string(),
    }),
  ),
  verification: auditVerificationSchema,
});
