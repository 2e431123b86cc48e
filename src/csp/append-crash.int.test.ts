/**
 * An append is crash-atomic: a CSP (or SP) that dies at either commit boundary of an append — after the SP
 * committed, before the CSP's index; after the index — leaves no patient wedged: after a restart on the same
 * database files every record the SP holds is indexed, audited and readable, and later appends succeed.
 * Results come from the enclave's analysis of a shared record (pipelineResults), never by hand.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { armFailpoints, FailpointError, type FailpointName } from '../failpoints/index.js';
import { generateSigningKeyPair, type SigningKeyPair } from '../crypto/index.js';
import type { HrvResult } from '../contracts/index.js';
import { signDeviceToken } from './devices.js';
import type { Principal } from './policy.js';
import { makeDurableHarness, type DurableHarness } from '../test-support/access/durable.js';
import { pipelineResults } from '../test-support/pipeline-fixtures.js';
import { hasSharedData, SHARED_DATA_SKIP_REASON } from '../test-support/shared-data.js';
import { PG_URL, postgresReachable } from '../test-support/access/postgres.js';

const PW = 'correct horse battery staple';
const RATE = { deviceRateLimit: { perMinute: 60_000, burst: 10_000 } };
const pgReachable = await postgresReachable();
if (!hasSharedData()) console.log(`skipped: ${SHARED_DATA_SKIP_REASON}`);

for (const [engine, location] of [
  ['PGlite', 'dir'],
  ['PostgreSQL SP', PG_URL],
] as const) {
  describe.skipIf(!hasSharedData() || (location !== 'dir' && !pgReachable))(`append crash-atomicity (${engine})`, () => {
    let h: DurableHarness;
    let gw: SigningKeyPair;
    let results: HrvResult[];
    let next = 0;
    const doctor = async (): Promise<Principal> => h.csp.authenticate((await h.csp.login('doc', PW)).access_token);
    const ingest = async (result: HrvResult, patient = 'P-A') =>
      h.csp.ingestResults(await h.csp.authenticateDevice(await signDeviceToken(gw, 'gw-1')), { gateway: 'gw-1', items: [{ patient, result }] });
    const hrvSeqs = async (patient = 'P-A') => {
      const read = await h.csp.getRecords(await doctor(), patient, { type: 'hrv' });
      return { seqs: read.records.map((r) => (r.data as { source: { seq: number } }).source.seq), failures: read.integrity_failures };
    };

    beforeAll(async () => {
      h = await makeDurableHarness(location, RATE);
      await h.csp.registerUser('bootstrap', { username: 'pat.a', password: PW, role: 'patient', patient_id: 'P-A' });
      await h.csp.registerUser('bootstrap', { username: 'doc', password: PW, role: 'doctor', patients: ['P-A'] });
      gw = generateSigningKeyPair();
      await h.csp.registerDevice('bootstrap', { id: 'gw-1', signing_public_key: Buffer.from(gw.publicKey).toString('hex'), patients: ['P-A'] });
      results = pipelineResults({ gateway: 'gw-1', durationS: 200 });
      await ingest(results[next++]!);
    });
    afterEach(() => armFailpoints(''));
    afterAll(async () => {
      armFailpoints('');
      await h?.close();
    });

    /** Everything a restart must leave: the SP's records all indexed and readable, the chain whole, the audit whole. */
    async function expectConsistent(expected: number[]): Promise<void> {
      const read = await hrvSeqs();
      expect(read.failures).toEqual([]);
      expect(read.seqs).toEqual(expected);
      expect(await h.csp.verifyPatientChain('P-A')).toMatchObject({ ok: true });
      const audit = await h.csp.verifyAudit();
      expect(audit.problem).toBeUndefined();
      expect(audit.ok).toBe(true);
    }

    for (const point of ['csp.after-sp-commit', 'csp.after-index'] as const satisfies readonly FailpointName[]) {
      it(`a CSP killed at ${point} restarts with the result indexed, and the patient takes appends`, async () => {
        const before = (await hrvSeqs()).seqs;
        const crashed = next++;
        armFailpoints(`${point}=error`);
        await expect(ingest(results[crashed]!)).rejects.toBeInstanceOf(FailpointError);
        armFailpoints('');
        await h.restartCsp(RATE);
        // Start-up alone reconciles: the result the SP committed is readable before anything else is sent.
        await expectConsistent([...before, crashed]);
        // The gateway's retry is a duplicate, and the next result is stored.
        const retry = await ingest(results[crashed]!);
        expect(retry.outcomes[0]!.outcome).toBe('duplicate');
        const fresh = next++;
        expect((await ingest(results[fresh]!)).outcomes[0]!.outcome).toBe('stored');
        await h.csp.appendRecord(await doctor(), 'P-A', { type: 'note', data: { text: `after ${point}` } });
        await expectConsistent([...before, crashed, fresh]);
      });
    }

    it('an SP and a CSP both restarted after the SP committed leave the patient appendable', async () => {
      const before = (await hrvSeqs()).seqs;
      const crashed = next++;
      armFailpoints('csp.after-sp-commit=error');
      await expect(ingest(results[crashed]!)).rejects.toBeInstanceOf(FailpointError);
      armFailpoints('');
      await h.restartSp();
      await h.restartCsp(RATE);
      await expectConsistent([...before, crashed]);
      const fresh = next++;
      expect((await ingest(results[fresh]!)).outcomes[0]!.outcome).toBe('stored');
      await expectConsistent([...before, crashed, fresh]);
    });

    it('an SP that lost its newest records (restored from a backup) does not wedge the patient: the loss is flagged, appends go on', async () => {
      const before = (await hrvSeqs()).seqs;
      const lost = next++;
      await ingest(results[lost]!);
      const [{ ref, seq } = { ref: '', seq: 0 }] = await h.cspDb.query<{ ref: string; seq: number }>('SELECT patient_ref AS ref, seq FROM csp_chain_heads');
      // The SP's database goes back two records (the result's hrv and rr_batch), as a restore from a backup would.
      await h.spDb.query('DELETE FROM sp_metadata WHERE patient_ref = $1 AND seq > $2', [ref, seq - 2]);
      await h.spDb.query('DELETE FROM sp_dedupe WHERE patient_ref = $1 AND first_seq > $2', [ref, seq - 2]);
      await h.spDb.query('DELETE FROM sp_records WHERE patient_ref = $1 AND seq > $2', [ref, seq - 2]);
      await h.restartSp();
      await h.restartCsp(RATE);
      // Before, every later append was refused ("next sequence number is N") and every read failed.
      const fresh = next++;
      expect((await ingest(results[fresh]!)).outcomes[0]!.outcome).toBe('stored');
      await expectConsistent([...before, fresh]);
      const flagged = (await h.csp.audit.search({ action: 'integrity.records_lost' })).items;
      expect(flagged).toHaveLength(1);
      expect(flagged[0]).toMatchObject({ flagged: true, detail: { first: seq - 1, last: seq, count: 2 } });
      // The gateway's resend of the lost result stores it again (reads are in time order).
      expect((await ingest(results[lost]!)).outcomes[0]!.outcome).toBe('stored');
      await expectConsistent([...before, lost, fresh]);
    });

    it('a doctor note whose SP commit outlived the CSP is indexed at start-up, with its audit entry', async () => {
      const doc = await doctor();
      armFailpoints('csp.after-sp-commit=error');
      await expect(h.csp.appendRecord(doc, 'P-A', { type: 'note', data: { text: 'lost answer' } })).rejects.toBeInstanceOf(FailpointError);
      armFailpoints('');
      await h.restartCsp(RATE);
      const notes = (await h.csp.getRecords(await doctor(), 'P-A', { type: 'note' })).records.map((r) => r.data.text);
      expect(notes).toContain('lost answer');
      const entries = await h.csp.audit.search({ action: 'record.write.note' });
      expect(entries.items.filter((e) => e.outcome === 'ok').length).toBe(notes.length);
    });
  });
}
