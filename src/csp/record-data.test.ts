/**
 * Record data is validated at append against the contract (RECORD_DATA_SCHEMAS), and the Paillier
 * aggregates read the measures where real results carry them (`data.measures`), so the mean SDNN over
 * stored pipeline results is the mean of their windows' SDNN — not null.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPair } from '../crypto/index.js';
import { ContractError } from '../contracts/index.js';
import type { HrvResult } from '../contracts/index.js';
import { signDeviceToken } from './devices.js';
import type { Principal } from './policy.js';
import { makeHarness, type Harness } from '../test-support/access/harness.js';
import { pipelineResults } from '../test-support/pipeline-fixtures.js';
import { hasSharedData } from '../test-support/shared-data.js';

const PW = 'correct horse battery staple';
let h: Harness;
let doctor: Principal;
let nurse: Principal;
let results: HrvResult[];

describe.skipIf(!hasSharedData())('record data at append, and aggregates over real results', () => {
  beforeAll(async () => {
    h = await makeHarness('memory:');
    const csp = h.csp;
    await csp.registerUser('bootstrap', { username: 'pat.a', password: PW, role: 'patient', patient_id: 'P-A' });
    await csp.registerUser('bootstrap', { username: 'doc', password: PW, role: 'doctor', patients: ['P-A'] });
    await csp.registerUser('bootstrap', { username: 'nurse', password: PW, role: 'health_worker', patients: ['P-A'] });
    doctor = await csp.authenticate((await csp.login('doc', PW)).access_token);
    nurse = await csp.authenticate((await csp.login('nurse', PW)).access_token);
    const gw = generateSigningKeyPair();
    await csp.registerDevice('bootstrap', { id: 'gw-1', signing_public_key: Buffer.from(gw.publicKey).toString('hex'), patients: ['P-A'] });
    results = pipelineResults({ gateway: 'gw-1', durationS: 400 });
    const device = await csp.authenticateDevice(await signDeviceToken(gw, 'gw-1'));
    await csp.ingestResults(device, { gateway: 'gw-1', items: results.map((result) => ({ patient: 'P-A', result })) });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('the aggregate of SDNN over stored pipeline results is the mean of their windows’ SDNN', async () => {
    const sdnn = results.map((r) => r.window.measures?.sdnn_ms).filter((v): v is number => typeof v === 'number');
    expect(sdnn.length).toBeGreaterThan(10);
    const from = results[0]!.t_start_ms;
    const to = results.at(-1)!.t_end_ms + 1;
    const agg = await h.csp.aggregate(doctor, { patient_id: 'P-A' }, 'sdnn_ms', from, to);
    expect(agg.n).toBe(sdnn.length);
    // Fixed point (×1000) per value: the mean is exact to 1e-3 ms.
    expect(agg.mean!).toBeCloseTo(sdnn.reduce((a, b) => a + b, 0) / sdnn.length, 3);
    const hr = results.map((r) => r.window.measures?.mean_hr_bpm).filter((v): v is number => typeof v === 'number');
    expect((await h.csp.aggregate(doctor, { patient_id: 'P-A' }, 'mean_hr_bpm', from, to)).mean!).toBeCloseTo(hr.reduce((a, b) => a + b, 0) / hr.length, 3);
  });

  const refused: Array<[string, { type: 'vitals' | 'note' | 'rr_file'; data: Record<string, unknown> }, string]> = [
    ['diastolic not below systolic', { type: 'vitals', data: { systolic_mmhg: 110, diastolic_mmhg: 120 } }, 'data.diastolic_mmhg'],
    ['a heart rate out of range', { type: 'vitals', data: { hr_bpm: 400 } }, 'data.hr_bpm'],
    ['an unknown vitals field', { type: 'vitals', data: { heart_rate_bpm: 70 } }, 'data'],
    ['no vital sign at all', { type: 'vitals', data: {} }, 'data'],
    ['an empty note', { type: 'note', data: { text: '   ' } }, 'data.text'],
    ['a file without a name', { type: 'rr_file', data: { text: '800\n810\n' } }, 'data.filename'],
  ];
  for (const [what, input, field] of refused) {
    it(`refuses ${what}, naming ${field}, and stores nothing`, async () => {
      const before = (await h.csp.getRecords(doctor, 'P-A')).records.length;
      const err = await h.csp.appendRecord(nurse, 'P-A', input).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ContractError);
      expect((err as ContractError).field).toBe(field);
      expect((await h.csp.getRecords(doctor, 'P-A')).records.length).toBe(before);
    });
  }

  it('refuses a flat HRV object (the shape of the trial defect)', async () => {
    await expect(h.csp.ingestHrvResult('P-A', 1_000, { sdnn_ms: 42, mean_hr_bpm: 70 })).rejects.toBeInstanceOf(ContractError);
  });

  it('accepts valid vitals', async () => {
    const rec = await h.csp.appendRecord(nurse, 'P-A', { type: 'vitals', data: { systolic_mmhg: 120, diastolic_mmhg: 80, hr_bpm: 64 } });
    expect(rec.data).toEqual({ systolic_mmhg: 120, diastolic_mmhg: 80, hr_bpm: 64 });
  });
});
