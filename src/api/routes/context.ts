/** What every route plugin is registered with: the CSP it translates for and the guard hooks. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { CspService } from '../../csp/index.js';
import { ValidationError } from '../../csp/index.js';
import type { Guard } from '../guard.js';

export interface RouteContext {
  csp: CspService;
  guard: Guard;
}

/** A feature's routes: a fastify plugin typed by the zod schemas of its routes. */
export type RoutePlugin<Extra = object> = FastifyPluginAsyncZod<RouteContext & Extra>;

/** Parses a time query parameter (ISO 8601 or epoch ms) into epoch ms. */
export function parseTime(field: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (/^\d{1,16}$/.test(value)) return Number(value);
  const t = Date.parse(value);
  if (!Number.isFinite(t) || !/^\d{4}-\d{2}-\d{2}/.test(value)) throw new ValidationError(field, 'must be an ISO 8601 date-time or epoch milliseconds');
  return t;
}

/** `{from_ms, to_ms}` of the times given (absent ones stay absent), for the CSP's range queries. */
export function timeRange(q: { from?: string | undefined; to?: string | undefined }): { from_ms?: number; to_ms?: number } {
  return {
    ...(q.from !== undefined ? { from_ms: parseTime('from', q.from, 0) } : {}),
    ...(q.to !== undefined ? { to_ms: parseTime('to', q.to, 0) } : {}),
  };
}

/** The range asked for, [from, to) in epoch ms; by default the 24 hours up to now. */
export function lastDayByDefault(q: { from?: string | undefined; to?: string | undefined }): [number, number] {
  const to = parseTime('to', q.to, Date.now());
  return [parseTime('from', q.from, to - 24 * 3600_000), to];
}
