/**
 * Test support for the two-person rule on clinical access: an HTTP caller that works over a real socket or
 * Fastify's inject, a second admin, and the whole grant flow (request by one admin, approval by another,
 * enrolment by the new user with the code parts and a password of their own) in one call.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { CspService } from '../../csp/index.js';

/** An answer: status and parsed JSON body (null when there is none). */
export interface CallAnswer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read whatever the endpoint answers
  body: any;
}

/** One API request; `path` is under /api/v1. */
export type Call = (method: 'GET' | 'POST' | 'PUT', path: string, token?: string, body?: unknown) => Promise<CallAnswer>;

/** A caller over a real socket to `base` (e.g. http://127.0.0.1:port). */
export function fetchCall(base: string): Call {
  return async (method, path, token, body) => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as unknown) : null };
  };
}

/** A caller through `app.inject` (no socket). */
export function injectCall(app: FastifyInstance): Call {
  return async (method, path, token, body) => {
    const res = await app.inject({
      method,
      url: `/api/v1${path}`,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(body !== undefined ? { payload: body as Record<string, unknown> } : {}),
    });
    return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as unknown) : null };
  };
}

/** A fresh password of 24 characters (over the 12-character minimum). */
export function freshPassword(): string {
  return randomBytes(18).toString('base64url');
}

/** Registers another admin through the bootstrap path (as a deployment's set-up does) and returns its password. */
export async function bootstrapAdmin(csp: CspService, username = 'admin2'): Promise<{ username: string; password: string; user_id: string }> {
  const password = freshPassword();
  const u = await csp.registerUser('bootstrap', { username, password, role: 'admin' });
  return { username, password, user_id: u.user_id };
}

/** Logs in over `call`; throws with the answer when refused. */
export async function loginAs(call: Call, username: string, password: string): Promise<string> {
  const r = await call('POST', '/auth/login', undefined, { username, password });
  if (r.status !== 200) throw new Error(`login of ${username}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.access_token as string;
}

/** Approves `grantId` as `approver`; returns the approver's enrolment code part, if the grant issues one. */
export async function approveGrant(call: Call, approver: string, grantId: string): Promise<string | undefined> {
  const r = await call('POST', `/grants/${grantId}/approve`, approver, {});
  if (r.status !== 200) throw new Error(`approve ${grantId}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.enrolment_code as string | undefined;
}

/** Enrols `username` with the code parts and sets `password`; returns the tokens' access token. */
export async function enrol(call: Call, username: string, codes: string[], password: string): Promise<string> {
  const r = await call('POST', '/auth/enrol', undefined, { username, codes, password });
  if (r.status !== 200) throw new Error(`enrol ${username}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.access_token as string;
}

/**
 * Creates a user the way the policy demands: `requester` (an admin token) asks, `approver` (another admin's
 * token) approves, the user enrols with both code parts and a password of their own. Returns the user's id,
 * that password and an access token.
 */
export async function createApprovedUser(
  call: Call,
  admins: { requester: string; approver: string },
  body: { username: string; role: 'admin' | 'doctor' | 'health_worker' | 'patient'; display_name?: string; patient_id?: string; patients?: string[] },
  /** The password the user sets at enrolment (default: a fresh random one). */
  password = freshPassword(),
): Promise<{ user_id: string; username: string; password: string; token: string }> {
  const requesterPart = freshPassword();
  const r = await call('POST', '/users', admins.requester, { ...body, password: requesterPart });
  if (r.status !== 202) throw new Error(`create ${body.username}: ${r.status} ${JSON.stringify(r.body)}`);
  const approverPart = await approveGrant(call, admins.approver, r.body.grant.grant_id as string);
  if (!approverPart) throw new Error(`approval of ${body.username} issued no enrolment code`);
  const token = await enrol(call, body.username, [requesterPart, approverPart], password);
  return { user_id: r.body.user_id as string, username: body.username, password, token };
}

/** Changes a doctor's or health worker's assignments with a second admin's approval of any addition. */
export async function setApprovedAssignments(call: Call, admins: { requester: string; approver: string }, userId: string, patients: string[]): Promise<void> {
  const r = await call('PUT', `/users/${userId}/assignments`, admins.requester, { patients });
  if (r.status === 200) return;
  if (r.status !== 202) throw new Error(`assignments of ${userId}: ${r.status} ${JSON.stringify(r.body)}`);
  await approveGrant(call, admins.approver, r.body.grant.grant_id as string);
}
