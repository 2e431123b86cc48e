/**
 * Exactly once at the CSP: an idempotency key makes a client's retry return the record it already stored;
 * every stored record has the audit entry that stored it, even across a crash between the index and the
 * audit, and `audit verify` checks it; the audit log is re-verified incrementally from a checkpoint; a lost
 * per-patient summary is rebuilt from the SP at start-up.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { armFailpoints, FailpointError } from '../failpoints/index.js';
import { ConflictError, ValidationError } from './errors.js';
import type { Principal } from './policy.js';
import { makeHarness, type Harness } from '../test-support/access/harness.js';
import { seedResults } from '../test-support/access/seed.js';
import { hasSharedData, SHARED_DATA_SKIP_REASON } from '../test-support/shared-data.js';
import { generateSigningKeyPair } from '../crypto/index.js';
import { pipelineResults } from '../test-support/pipeline-fixtures.js';
import { signDeviceToken } from './devices.js';

const PW = 'correct horse battery staple';
let h: Harness;
let doc: Principal;
let doc2: Principal;
let admin: Principal;

beforeAll(async () => {
  h = await makeHarness('memory:');
  await h.csp.registerUser('bootstrap', { username: 'admin', password: PW, role: 'admin' });
  await h.csp.registerUser('bootstrap', { username: 'pat', password: PW, role: 'patient', patient_id: 'P-1' });
  await h.csp.registerUser('bootstrap', { username: 'doc', password: PW, role: 'doctor', patients: ['P-1'] });
  await h.csp.registerUser('bootstrap', { username: 'doc2', password: PW, role: 'doctor', patients: ['P-1'] });
  doc = await h.csp.authenticate((await h.csp.login('doc', PW)).access_token);
  doc2 = await h.csp.authenticate((await h.csp.login('doc2', PW)).access_token);
  admin = await h.csp.authenticate((await h.csp.login('admin', PW)).access_token);
});
afterEach(() => armFailpoints(''));
afterAll(async () => {
  await h?.close();
});

const notes = async (text: string) => (await h.csp.getRecords(doc, 'P-1', { type: 'note' })).records.filter((r) => r.data.text === text);

describe('idempotency keys', () => {
  it('a retry with the same key and body returns the same record and stores nothing', async () => {
    const body = { type: 'note' as const, data: { text: 'idem one' } };
    const first = await h.csp.appendRecord(doc, 'P-1', body, { idempotencyKey: 'k-1' });
    const again = await h.csp.appendRecord(doc, 'P-1', { data: { text: 'idem one' }, type: 'note' }, { idempotencyKey: 'k-1' });
    expect(again.id).toBe(first.id);
    expect(await notes('idem one')).toHaveLength(1);
  });

  it('the same key with another body is a conflict', async () => {
    await h.csp.appendRecord(doc, 'P-1', { type: 'note', data: { text: 'idem two' } }, { idempotencyKey: 'k-2' });
    await expect(h.csp.appendRecord(doc, 'P-1', { type: 'note', data: { text: 'idem two, edited' } }, { idempotencyKey: 'k-2' })).rejects.toBeInstanceOf(ConflictError);
    expect(await notes('idem two, edited')).toHaveLength(0);
  });

  it('keys are scoped to the caller', async () => {
    const a = await h.csp.appendRecord(doc, 'P-1', { type: 'note', data: { text: 'idem three' } }, { idempotencyKey: 'k-3' });
    const b = await h.csp.appendRecord(doc2, 'P-1', { type: 'note', data: { text: 'idem three' } }, { idempotencyKey: 'k-3' });
    expect(b.id).not.toBe(a.id);
    expect(await notes('idem three')).toHaveLength(2);
  });

  it('a retry after an answer lost between the SP commit and the index returns that record, once', async () => {
    armFailpoints('csp.after-sp-commit=error');
    await expect(h.csp.appendRecord(doc, 'P-1', { type: 'prescription', data: { text: 'rest', medication: 'none' } }, { idempotencyKey: 'k-4' })).rejects.toBeInstanceOf(
      FailpointError,
    );
    armFailpoints('');
    const retry = await h.csp.appendRecord(doc, 'P-1', { type: 'prescription', data: { text: 'rest', medication: 'none' } }, { idempotencyKey: 'k-4' });
    const stored = (await h.csp.getRecords(doc, 'P-1', { type: 'prescription' })).records;
    expect(stored.map((r) => r.id)).toEqual([retry.id]);
  });

  it('refuses a key that is not 1–255 visible ASCII characters', async () => {
    await expect(h.csp.appendRecord(doc, 'P-1', { type: 'note', data: { text: 'x' } }, { idempotencyKey: '' })).rejects.toBeInstanceOf(ValidationError);
    await expect(h.csp.appendRecord(doc, 'P-1', { type: 'note', data: { text: 'x' } }, { idempotencyKey: 'a b' })).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('every stored record has its audit entry', () => {
  it('a crash between the index and the audit cannot leave a record unaccounted for', async () => {
    armFailpoints('csp.after-index=error');
    await expect(h.csp.appendRecord(doc, 'P-1', { type: 'note', data: { text: 'crash after index' } })).rejects.toBeInstanceOf(FailpointError);
    armFailpoints('');
    const [stored] = await notes('crash after index');
    const entries = (await h.csp.audit.search({ action: 'record.write.note', outcome: 'ok', limit: 1000 })).items;
    expect(entries.filter((e) => e.detail?.id === stored!.id)).toHaveLength(1);
    expect(await h.csp.verifyAudit()).toMatchObject({ ok: true });
  });

  it('audit verify reports a stored record whose entry does not account for it', async () => {
    const [row] = await h.cspDb.query<{ patient_ref: string; seq: number; audit_seq: number }>('SELECT patient_ref, seq, audit_seq FROM csp_record_index ORDER BY seq DESC LIMIT 1');
    await h.cspDb.query('UPDATE csp_record_index SET audit_seq = 1 WHERE patient_ref = $1 AND seq = $2', [row!.patient_ref, row!.seq]);
    const v = await h.csp.verifyAudit();
    expect(v.ok).toBe(false);
    expect(v.problem).toMatch(new RegExp(`1 stored record\\(s\\) have no audit entry .*record ${row!.seq}`));
    await h.cspDb.query('UPDATE csp_record_index SET audit_seq = $3 WHERE patient_ref = $1 AND seq = $2', [row!.patient_ref, row!.seq, row!.audit_seq]);
    expect((await h.csp.verifyAudit()).ok).toBe(true);
  });
});

describe('GET /audit verifies incrementally', () => {
  it('from a checkpoint: a later edit is caught, an edit below the checkpoint is left to the full pass', async () => {
    expect((await h.csp.searchAudit(admin, { limit: 1 })).verification.ok).toBe(true);
    const [e] = await h.cspDb.query<{ seq: number; entry: string }>('SELECT seq, entry FROM csp_audit WHERE seq = 3');
    await h.cspDb.query('UPDATE csp_audit SET entry = $1 WHERE seq = 3', [e!.entry.replace('"ok"', '"denied"')]);
    expect((await h.csp.searchAudit(admin, { limit: 1 })).verification.ok).toBe(true);
    expect(await h.csp.verifyAudit()).toMatchObject({ ok: false, seq: 3 });
    await h.cspDb.query('UPDATE csp_audit SET entry = $1 WHERE seq = 3', [e!.entry]);
    // An entry written after the checkpoint is checked on the next call.
    await h.csp.appendRecord(doc, 'P-1', { type: 'note', data: { text: 'after the checkpoint' } });
    const [last] = await h.cspDb.query<{ seq: number; entry: string }>('SELECT seq, entry FROM csp_audit ORDER BY seq DESC LIMIT 1');
    await h.cspDb.query('UPDATE csp_audit SET entry = $1 WHERE seq = $2', [last!.entry.replace('"ok"', '"denied"'), last!.seq]);
    expect((await h.csp.searchAudit(admin, { limit: 1 })).verification).toMatchObject({ ok: false, seq: last!.seq });
    await h.cspDb.query('UPDATE csp_audit SET entry = $1 WHERE seq = $2', [last!.entry, last!.seq]);
    expect((await h.csp.verifyAudit()).ok).toBe(true);
  });
});

describe.skipIf(!hasSharedData())('per-patient summary', () => {
  if (!hasSharedData()) console.log(SHARED_DATA_SKIP_REASON);
  it('a lost summary is rebuilt from the SP at start-up', async () => {
    const [result] = await seedResults(h.csp, 'P-1', { durationS: 10 });
    const before = h.csp.listPatientSummaries(doc).items[0]!;
    expect(before.latest?.mean_hr_bpm).toBeCloseTo(result!.window.measures!.mean_hr_bpm!, 6);
    await h.cspDb.query('DELETE FROM csp_patient_summary');
    await h.restartCsp();
    expect(h.csp.listPatientSummaries(doc).items[0]).toEqual(before);
    const rebuilt = (await h.csp.audit.search({ action: 'summary.rebuild' })).items;
    expect(rebuilt.map((e) => e.outcome)).toEqual(['ok']);
  });
});

describe('pipeline results resent by a gateway (its answer was lost)', () => {
  it('are answered "duplicate" from the CSP\'s own index: nothing sent to the SP, no "not stored" audit entry', async () => {
    const key = generateSigningKeyPair();
    const gateway = 'gw-resend';
    await h.csp.registerDevice('bootstrap', { id: gateway, signing_public_key: Buffer.from(key.publicKey).toString('hex'), patients: ['P-1'] });
    const body = { gateway, items: pipelineResults({ source: 'synthetic', gateway, durationS: 30 }).map((result) => ({ patient: 'P-1', result })) };
    const ingest = async () => h.csp.ingestResults(await h.csp.authenticateDevice(await signDeviceToken(key, gateway)), body);
    expect((await ingest()).outcomes.map((o) => o.outcome)).toEqual(body.items.map(() => 'stored'));
    const errorsBefore = (await h.csp.audit.search({ action: 'ingest.result', outcome: 'error' })).total;
    const spBefore = h.sp.stats.requests;
    expect((await ingest()).outcomes.map((o) => o.outcome)).toEqual(body.items.map(() => 'duplicate'));
    // A retry is not a store: it costs no SP transaction, and the log does not claim a stored result was "not stored".
    expect(h.sp.stats.requests - spBefore).toBe(0);
    expect((await h.csp.audit.search({ action: 'ingest.result', outcome: 'error' })).total).toBe(errorsBefore);
    const dup = (await h.csp.audit.search({ action: 'ingest.result' })).items.filter((e) => e.detail?.duplicate === true);
    expect(dup).toHaveLength(body.items.length);
  });
});
