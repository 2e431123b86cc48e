/** An API on a CSP/SP harness with one user of each role, for the access matrix and input tests. */
import type { FastifyInstance } from 'fastify';
import { makeHarness, type Harness } from '../../test-support/access/harness.js';
import { buildApi } from '../server.js';
import { seedResults } from '../../test-support/access/seed.js';
import type { HrvResult } from '../../contracts/index.js';
import type { CspServiceOptions } from '../../csp/index.js';

export const PASSWORD = 'correct horse battery staple';

/** Start of the fixture's recordings (epoch ms). */
export const FIXTURE_T0 = Date.UTC(2026, 0, 1);

export type Actor = 'anonymous' | 'patient' | 'health_worker' | 'doctor' | 'admin';

export interface ApiFixture {
  h: Harness;
  app: FastifyInstance;
  tokens: Record<Exclude<Actor, 'anonymous'>, string>;
  /** The pipeline results stored for P-A and P-B. */
  results: Record<'P-A' | 'P-B', HrvResult[]>;
  userIds: Record<Exclude<Actor, 'anonymous'>, string>;
  /** A second admin's token: the approver the two-person rule on grants needs. */
  approver: string;
  close(): Promise<void>;
}

/** Own patient is P-A (the patient's own record; assigned to the health worker; in the doctor's care); other is P-B. */
export async function makeApiFixture(spLocation = 'memory:', options: Partial<CspServiceOptions> = {}): Promise<ApiFixture> {
  const h = await makeHarness(spLocation, options);
  const csp = h.csp;
  const reg = (username: string, role: 'patient' | 'health_worker' | 'doctor' | 'admin', extra: { patient_id?: string; patients?: string[] } = {}) =>
    csp.registerUser('bootstrap', { username, password: PASSWORD, role, ...extra });
  const users = {
    admin: await reg('admin', 'admin'),
    patient: await reg('alice', 'patient', { patient_id: 'P-A' }),
    doctor: await reg('dr.who', 'doctor', { patients: ['P-A'] }),
    health_worker: await reg('nurse', 'health_worker', { patients: ['P-A'] }),
  };
  await reg('bob', 'patient', { patient_id: 'P-B' });
  await reg('admin2', 'admin');
  // Real results (the enclave's analysis of shared records) through the device path, 20 s per patient.
  const results = {
    'P-A': await seedResults(csp, 'P-A', { source: '100', startMs: FIXTURE_T0, durationS: 20 }),
    'P-B': await seedResults(csp, 'P-B', { source: '119', startMs: FIXTURE_T0, durationS: 20 }),
  };
  const app = await buildApi({ csp });
  const login = async (username: string) => (await csp.login(username, PASSWORD)).access_token;
  return {
    h,
    app,
    results,
    approver: await login('admin2'),
    tokens: { admin: await login('admin'), patient: await login('alice'), doctor: await login('dr.who'), health_worker: await login('nurse') },
    userIds: { admin: users.admin.user_id, patient: users.patient.user_id, doctor: users.doctor.user_id, health_worker: users.health_worker.user_id },
    async close() {
      await app.close();
      await h.close();
    },
  };
}

/** Sets a clinician's assignments as the fixture's admin, with the second admin approving any addition (in-process). */
export async function grantAssignments(f: ApiFixture, userId: string, patients: string[]): Promise<void> {
  const out = await f.h.csp.setAssignments(await f.h.csp.authenticate(f.tokens.admin), userId, patients);
  if (out.grant?.state === 'pending') await f.h.csp.approveGrant(await f.h.csp.authenticate(f.approver), out.grant.grant_id);
}

export interface MatrixRow {
  endpoint: string;
  method: 'GET' | 'POST' | 'PUT';
  url: (patient: string, f: ApiFixture) => string;
  body?: unknown;
  /** Expected status per actor for [own patient, other patient]. */
  expect: Record<Actor, [number, number]>;
}

const ALL_401: [number, number] = [401, 401];

/** Every role × every endpoint × own/other patient. */
export const ACCESS_MATRIX: MatrixRow[] = [
  {
    endpoint: 'read records',
    method: 'GET',
    url: (p) => `/api/v1/patients/${p}/records`,
    expect: { anonymous: ALL_401, patient: [200, 404], health_worker: [200, 404], doctor: [200, 404], admin: [404, 404] },
  },
  {
    endpoint: 'upload vitals',
    method: 'POST',
    url: (p) => `/api/v1/patients/${p}/records`,
    body: { type: 'vitals', data: { hr_bpm: 72 } },
    expect: { anonymous: ALL_401, patient: [403, 404], health_worker: [201, 404], doctor: [403, 404], admin: [404, 404] },
  },
  {
    endpoint: 'write note',
    method: 'POST',
    url: (p) => `/api/v1/patients/${p}/records`,
    body: { type: 'note', data: { text: 'seen today' } },
    expect: { anonymous: ALL_401, patient: [403, 404], health_worker: [201, 404], doctor: [201, 404], admin: [404, 404] },
  },
  {
    endpoint: 'prescribe',
    method: 'POST',
    url: (p) => `/api/v1/patients/${p}/prescriptions`,
    body: { text: 'beta blocker review in 2 weeks' },
    expect: { anonymous: ALL_401, patient: [403, 404], health_worker: [403, 404], doctor: [201, 404], admin: [404, 404] },
  },
  {
    endpoint: 'aggregate of a patient',
    method: 'GET',
    url: (p) => `/api/v1/patients/${p}/aggregates?metric=sdnn_ms&from=${FIXTURE_T0}&to=${FIXTURE_T0 + 100_000}`,
    expect: { anonymous: ALL_401, patient: [200, 404], health_worker: [200, 404], doctor: [200, 404], admin: [404, 404] },
  },
  {
    endpoint: 'list patients',
    method: 'GET',
    url: () => '/api/v1/patients',
    expect: { anonymous: ALL_401, patient: [200, 200], health_worker: [200, 200], doctor: [200, 200], admin: [200, 200] },
  },
  {
    endpoint: 'me',
    method: 'GET',
    url: () => '/api/v1/me',
    expect: { anonymous: ALL_401, patient: [200, 200], health_worker: [200, 200], doctor: [200, 200], admin: [200, 200] },
  },
  {
    endpoint: 'list users',
    method: 'GET',
    url: () => '/api/v1/users',
    expect: { anonymous: ALL_401, patient: [403, 403], health_worker: [403, 403], doctor: [403, 403], admin: [200, 200] },
  },
  {
    endpoint: 'assign patients',
    method: 'PUT',
    url: (p, f) => `/api/v1/users/${f.userIds.health_worker}/assignments`,
    body: { patients: ['P-A'] },
    expect: { anonymous: ALL_401, patient: [403, 403], health_worker: [403, 403], doctor: [403, 403], admin: [200, 200] },
  },
  {
    endpoint: 'verify audit',
    method: 'GET',
    url: () => '/api/v1/audit/verify',
    expect: { anonymous: ALL_401, patient: [403, 403], health_worker: [403, 403], doctor: [403, 403], admin: [200, 200] },
  },
];
