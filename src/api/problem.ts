/**
 * RFC 9457 problem details: the one place where domain errors become HTTP statuses.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { HrvaultError, type ErrorCode } from '../errors.js';
import { ThrottledError, UnknownReferenceError, ValidationError } from '../csp/index.js';
import { ContractError } from '../contracts/index.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  field?: string;
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  HRV_ERR_AUTH: 401,
  HRV_ERR_FORBIDDEN: 403,
  HRV_ERR_GRANT_SELF_APPROVAL: 403,
  HRV_ERR_GRANT_STATE: 409,
  HRV_ERR_NOT_FOUND: 404,
  HRV_ERR_CONFLICT: 409,
  HRV_ERR_THROTTLED: 429,
  HRV_ERR_VALIDATION: 400,
  HRV_ERR_JSON_DEPTH: 400,
  HRV_ERR_SP_REQUEST: 503,
  HRV_ERR_RECORD_INTEGRITY: 502,
  HRV_ERR_SP_ROLLBACK: 502,
  HRV_ERR_DEVICE: 401,
  HRV_ERR_UNKNOWN_REFERENCE: 422,
  HRV_ERR_CONTRACT: 422,
  HRV_ERR_PARSE: 422,
  HRV_ERR_FILE: 422,
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** Sends a problem+json answer. */
export function sendProblem(reply: FastifyReply, request: FastifyRequest, status: number, code: string, detail: string, field?: string): FastifyReply {
  const body: Problem = {
    type: `https://hrvault.invalid/problems/${code.toLowerCase().replace(/_/g, '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    instance: request.url.split('?')[0],
    ...(field ? { field } : {}),
  };
  if (status === 401) reply.header('www-authenticate', 'Bearer');
  return reply.code(status).type('application/problem+json').send(body);
}

/** Fastify error handler: schema failures (400) name the field; domain errors keep their code; the rest is 500 without details. */
export function problemErrorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof HrvaultError) {
    const status = STATUS[error.code] ?? 500;
    if (error instanceof ThrottledError) reply.header('retry-after', String(error.retryAfterS));
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    const field = error instanceof ValidationError || error instanceof ContractError || error instanceof UnknownReferenceError ? error.field || undefined : undefined;
    return sendProblem(reply, request, status, error.code, status >= 500 && status !== 503 ? 'internal error' : error.message, field);
  }
  const fe = error as FastifyError;
  if (fe.validation) {
    const v = fe.validation[0];
    const path = v?.instancePath ? v.instancePath.replace(/^\//, '').replace(/\//g, '.') : '';
    // zod (the routes' schemas) names unknown fields in params.keys, with the path of their object.
    const keys: unknown = v?.params?.keys;
    const unknownField = Array.isArray(keys) && typeof keys[0] === 'string' ? keys[0] : undefined;
    const field = [fe.validationContext, path, unknownField].filter(Boolean).join('.');
    const what = unknownField !== undefined ? 'unknown field' : (v?.message ?? 'invalid');
    return sendProblem(reply, request, 400, 'HRV_ERR_VALIDATION', `${field}: ${what}`, field);
  }
  const status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500 ? fe.statusCode : 500;
  if (status === 500) {
    request.log.error({ err: error }, 'unhandled error');
    return sendProblem(reply, request, 500, 'HRV_ERR_INTERNAL', 'internal error');
  }
  return sendProblem(reply, request, status, fe.code ?? 'HRV_ERR_HTTP', fe.message);
}
