/**
 * A real crash: `hrvault serve` armed with `csp.after-sp-commit=crash` is SIGKILLed by its own failpoint the
 * instant after the SP committed a record and before the CSP indexed it; restarted on the same data directory
 * (and, in the second case, the same PostgreSQL schema for the SP), it serves that record, takes the next
 * append, and its audit log verifies with every stored record accounted for.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitWithin, runCli, spawnCli, type CliProcess } from '../test-support/processes.js';
import { PG_URL, postgresReachable } from '../test-support/access/postgres.js';
import { openSqlDb } from '../sql/index.js';
import { createApprovedUser, fetchCall } from '../api/test-support/grants.js';

const PW = 'correct horse battery staple';
const children: CliProcess[] = [];
const dirs: string[] = [];
const schemas: string[] = [];
const pgReachable = await postgresReachable();

afterAll(async () => {
  for (const c of children) c.signalGroup('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (schemas.length > 0) {
    const admin = await openSqlDb(PG_URL);
    for (const s of schemas) await admin.exec(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await admin.close();
  }
});

async function serve(dataDir: string, spDb: string | undefined, failpoints = ''): Promise<{ child: CliProcess; api: string }> {
  const child = spawnCli(['serve', '--data-dir', dataDir, '--port', '0', ...(spDb ? ['--sp-db', spDb] : [])], {
    env: { HRVAULT_ACCESS_ADMIN_PASSWORD: PW, HRVAULT_ACCESS_SECOND_ADMIN_PASSWORD: PW, HRVAULT_FAILPOINTS: failpoints },
  });
  children.push(child);
  const m = await child.waitFor(/API at (http:\/\/\S+)\/api\/v1/);
  return { child, api: `${m[1]}/api/v1` };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a test reads fields of whatever the API answered
async function call(api: string, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${api}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

const login = async (api: string, username: string, password = PW): Promise<string> => (await call(api, 'POST', '/auth/login', { username, password })).json.access_token as string;

for (const [engine, withPg] of [
  ['PGlite', false],
  ['PostgreSQL SP', true],
] as const) {
  describe.skipIf(withPg && !pgReachable)(`hrvault serve killed between the SP's commit and the CSP's index (${engine})`, () => {
    it('restarts with the record indexed and readable, takes the next append, and its audit verifies', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'hrv-crash-'));
      dirs.push(dataDir);
      let spDb: string | undefined;
      if (withPg) {
        const schema = `tcrashproc_${process.pid}_${Date.now()}`;
        const admin = await openSqlDb(PG_URL);
        await admin.exec(`CREATE SCHEMA ${schema}`);
        await admin.close();
        schemas.push(schema);
        const url = new URL(PG_URL);
        url.searchParams.set('options', `-c search_path=${schema}`);
        spDb = url.toString();
      }
      const first = await serve(dataDir, spDb, 'csp.after-sp-commit=crash');
      const admin = await login(first.api, 'admin');
      // Accounts follow the two-person rule: one admin requests, the other approves, the user enrols.
      const grants = fetchCall(first.api.replace(/\/api\/v1$/, ''));
      const admins = { requester: admin, approver: await login(first.api, 'admin2') };
      await createApprovedUser(grants, admins, { username: 'pat', role: 'patient', patient_id: 'P-1' });
      const { password: docPw, token: doc } = await createApprovedUser(grants, admins, { username: 'doc', role: 'doctor', patients: ['P-1'] });
      // The answer never comes: the failpoint SIGKILLs the process after the SP's commit.
      await expect(call(first.api, 'POST', '/patients/P-1/records', { type: 'note', data: { text: 'written at the crash' } }, doc)).rejects.toThrow();
      expect(await first.child.exited).toEqual({ code: null, signal: 'SIGKILL' });

      const second = await serve(dataDir, spDb);
      const doc2 = await login(second.api, 'doc', docPw);
      const read = await call(second.api, 'GET', '/patients/P-1/records', undefined, doc2);
      expect(read.status).toBe(200);
      expect(read.json.integrity_failures).toEqual([]);
      expect(read.json.items.map((r: { data: { text: string } }) => r.data.text)).toEqual(['written at the crash']);
      expect((await call(second.api, 'POST', '/patients/P-1/records', { type: 'note', data: { text: 'after the restart' } }, doc2)).status).toBe(201);
      expect((await call(second.api, 'GET', '/patients/P-1/records', undefined, doc2)).json.total).toBe(2);
      const verify = await call(second.api, 'GET', '/audit/verify', undefined, await login(second.api, 'admin'));
      expect(verify.json).toMatchObject({ ok: true });
      second.child.signalGroup('SIGTERM');
      expect(await exitWithin(second.child, 60_000)).toEqual({ code: 0, signal: null });
      const audit = await runCli(['audit', 'verify', '--data-dir', dataDir, '--json']);
      expect(audit.code, audit.stdout + audit.stderr).toBe(0);
    });
  });
}
