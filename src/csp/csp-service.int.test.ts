/**
 * The same protocol on PostgreSQL (127.0.0.1:5432 on the development machines and CI); skipped with a
 * printed reason where no server answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, postgresReachable } from '../test-support/access/postgres.js';
import { makeHarness, type Harness } from '../test-support/access/harness.js';
import { NotFoundError } from './errors.js';
import { seedResults } from '../test-support/access/seed.js';

const reachable = await postgresReachable();

describe.skipIf(!reachable)('CSP and SP on PostgreSQL', () => {
  let h: Harness;
  const PW = 'correct horse battery staple';
  beforeAll(async () => {
    h = await makeHarness(PG_URL);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('registers, logs in, appends, reads, aggregates and detects a tampered record', async () => {
    const csp = h.csp;
    await csp.registerUser('bootstrap', {
      username: 'pat',
      password: PW,
      role: 'patient',
      patient_id: 'P-1',
    });
    await csp.registerUser('bootstrap', { username: 'doc', password: PW, role: 'doctor', patients: ['P-1'] });
    const doc = await csp.authenticate((await csp.login('doc', PW)).access_token);
    const pat = await csp.authenticate((await csp.login('pat', PW)).access_token);
    const T0 = Date.UTC(2026, 0, 1);
    // One real result (the enclave's analysis of 10 s of record 119): an hrv and an rr_batch record.
    const [result] = await seedResults(csp, 'P-1', { startMs: T0, durationS: 10 });
    await csp.appendRecord(doc, 'P-1', { type: 'prescription', t_ms: T0 + 50_000, data: { text: 'rest' } });
    expect((await csp.getRecords(pat, 'P-1')).records).toHaveLength(3);
    expect((await csp.aggregate(doc, { patient_id: 'P-1' }, 'sdnn_ms', T0, T0 + 100_000)).mean).toBeCloseTo(result!.window.measures!.sdnn_ms!, 3);
    await h.spDb.query(
      'UPDATE sp_records SET blob = set_byte(blob, 90, get_byte(blob, 90) # 1) WHERE seq = 2',
    );
    const r = await csp.getRecords(doc, 'P-1');
    expect(r.integrity_failures.map((f) => f.seq)).toEqual([2]);
    expect(r.records).toHaveLength(2);
    await expect(csp.getRecords(doc, 'P-2')).rejects.toBeInstanceOf(NotFoundError);
    const rows = await h.spDb.query<{ blob: Buffer }>('SELECT blob FROM sp_users');
    expect(rows.every((row) => !row.blob.toString('latin1').includes('pat'))).toBe(true);
  });
});
