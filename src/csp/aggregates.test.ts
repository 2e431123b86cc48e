/**
 * Attacks on Paillier aggregates by a malicious SP, run against the real SP code: the SP edits its own
 * database (what an operator with `psql` can do) or answers from a database wrapper it controls. Every
 * forgery must be detected, and a detection must stop aggregate queries to that SP, so that the check
 * cannot be used as an oracle.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PublicKey } from 'paillier-bigint';
import { importPaillierPublicKey, PaillierEncryptor } from '../crypto/index.js';
import { makeHarness, type Harness } from '../test-support/access/harness.js';
import { seedResults } from '../test-support/access/seed.js';
import type { SqlDb } from '../sql/index.js';
import type { Principal } from './policy.js';
import type { AggregateMetric } from './vocabulary.js';

const PW = 'correct horse battery staple';
const T0 = Date.UTC(2026, 0, 1);
const WHOLE = [T0, T0 + 10_000_000] as const;
// The slot layout is public (it is in the source the SP runs): 64-bit slots; per metric a count and a sum
// (×1000); slot 8 counts records.
const SLOT_BITS = 64n;
const SDNN_SUM_SLOT = 1n;
const NN_SUM_SLOT = 7n;
const COUNT_SLOT = 8n;

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
});

/** A fresh CSP + SP with one patient (who reads her own aggregates) and an admin, seeded from ECG record `source`. */
async function system(source = '100', durationS = 60): Promise<{ h: Harness; patient: Principal; admin: Principal }> {
  const h = await makeHarness('memory:');
  open.push(h);
  await h.csp.registerUser('bootstrap', { username: 'admin', password: PW, role: 'admin' });
  await h.csp.registerUser('bootstrap', { username: 'pat', password: PW, role: 'patient', patient_id: 'P-X' });
  await seedResults(h.csp, 'P-X', { source, startMs: T0, durationS });
  const who = async (u: string) => h.csp.authenticate((await h.csp.login(u, PW)).access_token);
  return { h, patient: await who('pat'), admin: await who('admin') };
}

/** What the SP knows: the Paillier public key the CSP registered with it. */
async function spPublicKey(db: SqlDb): Promise<PublicKey> {
  const [row] = await db.query<{ value: string }>("SELECT value FROM sp_config WHERE name = 'paillier_n'");
  return importPaillierPublicKey({ n: row!.value });
}

/** The SP multiplies one stored aggregate ciphertext by Enc(m): the record's plaintext becomes X + m. Returns an undo. */
async function addToStored(db: SqlDb, m: bigint, which = 0): Promise<() => Promise<void>> {
  const pk = await spPublicKey(db);
  const rows = await db.query<{ patient_ref: string; seq: number; ct: string }>('SELECT patient_ref, seq, ct FROM sp_metadata ORDER BY seq');
  const row = rows[which]!;
  const n2 = pk.n * pk.n;
  const forged = (BigInt(`0x${row.ct}`) * new PaillierEncryptor(pk).encrypt(((m % pk.n) + pk.n) % pk.n)) % n2;
  await db.query('UPDATE sp_metadata SET ct = $1 WHERE patient_ref = $2 AND seq = $3', [forged.toString(16), row.patient_ref, row.seq]);
  return async () => {
    await db.query('UPDATE sp_metadata SET ct = $1 WHERE patient_ref = $2 AND seq = $3', [row.ct, row.patient_ref, row.seq]);
  };
}

/** The outcome of one aggregate query as its caller sees it: the answer, or the error code. */
async function outcome(h: Harness, p: Principal, metric: AggregateMetric): Promise<string> {
  try {
    const a = await h.csp.aggregate(p, { patient_id: 'P-X' }, metric, ...WHOLE);
    return `answer n=${a.n}`;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

describe('aggregates under a malicious SP', () => {
  it('an SP that multiplies a stored ciphertext by an encryption of its choice is caught, audited, and gets no further aggregate query, even after a restart', async () => {
    const { h, patient, admin } = await system();
    const honest = await h.csp.aggregate(patient, { patient_id: 'P-X' }, 'sdnn_ms', ...WHOLE);
    expect(honest.n).toBeGreaterThan(0);
    // +500 ms in one window's SDNN sum; the count slots are left alone, so today's count check passes.
    const undo = await addToStored(h.spDb, 500_000n << (SDNN_SUM_SLOT * SLOT_BITS));
    await expect(h.csp.aggregate(patient, { patient_id: 'P-X' }, 'sdnn_ms', ...WHOLE)).rejects.toMatchObject({ code: 'HRV_ERR_AGGREGATE_INTEGRITY' });
    const flagged = (await h.csp.audit.entries()).filter((e) => e.action === 'aggregate.integrity_failure');
    expect(flagged).toHaveLength(1);
    expect(flagged[0]!.flagged).toBe(true);

    // The attacker undoes the forgery and asks again: the CSP does not even send the query.
    await undo();
    const before = h.sp.stats.requests;
    await expect(h.csp.aggregate(patient, { patient_id: 'P-X' }, 'sdnn_ms', ...WHOLE)).rejects.toMatchObject({ code: 'HRV_ERR_AGGREGATES_SUSPENDED' });
    expect(h.sp.stats.requests).toBe(before);

    // The suspension is durable: a restarted CSP still sends nothing.
    await h.restartCsp();
    const afterRestart = h.sp.stats.requests;
    await expect(h.csp.aggregate(patient, { patient_id: 'P-X' }, 'sdnn_ms', ...WHOLE)).rejects.toMatchObject({ code: 'HRV_ERR_AGGREGATES_SUSPENDED' });
    expect(h.sp.stats.requests).toBe(afterRestart);

    // Only an admin's explicit, audited action resumes them.
    await expect(h.csp.resumeAggregates(patient, 'checked the SP')).rejects.toMatchObject({ code: 'HRV_ERR_FORBIDDEN' });
    const admin2 = await h.csp.authenticate((await h.csp.login('admin', PW)).access_token);
    expect(admin2.kind).toBe(admin.kind);
    await h.csp.resumeAggregates(admin2, 'SP database restored from a verified backup');
    expect((await h.csp.aggregate(patient, { patient_id: 'P-X' }, 'sdnn_ms', ...WHOLE)).mean).toBeCloseTo(honest.mean!, 9);
    expect((await h.csp.audit.entries()).some((e) => e.action === 'aggregate.resume' && e.flagged)).toBe(true);
  });

  it('the count-slot overflow oracle learns nothing: the answers to the attack are the same whatever the mean NN, and only its first query reaches the SP', async () => {
    // The reviewer's attack: add 2^64 − t to one record's NN-sum slot; the sum carries into the record-count
    // slot iff Σ NN·1000 ≥ t, and today's count check then refuses — one bit per query, a binary search.
    const attack = async (source: string) => {
      const { h, patient } = await system(source, 30);
      const transcript: string[] = [];
      let lo = 0n;
      let hi = 3n * 2_000_000n; // three windows, mean NN below 2 s
      let toSp = 0;
      for (let i = 0; i < 9; i++) {
        const t = (lo + hi) / 2n;
        const undo = await addToStored(h.spDb, ((1n << SLOT_BITS) - t) << (NN_SUM_SLOT * SLOT_BITS));
        const before = h.sp.stats.requests;
        const o = await outcome(h, patient, 'mean_nn_ms');
        if (h.sp.stats.requests !== before) toSp++;
        await undo();
        transcript.push(o);
        if (o === 'answer n=3') hi = t;
        else lo = t;
      }
      return { transcript, toSp };
    };
    const a = await attack('100');
    const b = await attack('119');
    expect(a.transcript).toEqual(b.transcript);
    expect(a.transcript[0]).toBe('HRV_ERR_AGGREGATE_INTEGRITY');
    expect(new Set(a.transcript.slice(1))).toEqual(new Set(['HRV_ERR_AGGREGATES_SUSPENDED']));
    expect(a.toSp).toBe(1);
    expect(b.toSp).toBe(1);
  });

  it('a record dropped from the sum is caught, also when the SP patches the record count back', async () => {
    const { h, patient } = await system('100', 30);
    const rows = await h.spDb.query<{ patient_ref: string; seq: number }>('SELECT patient_ref, seq FROM sp_metadata ORDER BY seq');
    expect(rows).toHaveLength(3);
    await h.spDb.query('DELETE FROM sp_metadata WHERE patient_ref = $1 AND seq = $2', [rows[2]!.patient_ref, rows[2]!.seq]);
    // Today's check only counts: one more in the count slot of another record hides the drop.
    await addToStored(h.spDb, 1n << (COUNT_SLOT * SLOT_BITS));
    await expect(h.csp.aggregate(patient, { patient_id: 'P-X' }, 'sdnn_ms', ...WHOLE)).rejects.toMatchObject({ code: 'HRV_ERR_AGGREGATE_INTEGRITY' });
  });

  it('an old aggregate replayed by the SP after new records were stored is caught', async () => {
    const { h, patient } = await system('100', 30);
    // The SP answers every aggregate from the rows it summed the first time (a database it controls).
    const real = h.spDb.query.bind(h.spDb);
    let first: unknown[] | undefined;
    h.spDb.query = (async (sql: string, params?: unknown[]) => {
      if (!/FROM sp_metadata WHERE metric_tag/.test(sql)) return real(sql, params);
      first ??= await real(sql, params);
      return first;
    }) as SqlDb['query'];
    const old = await h.csp.aggregate(patient, { patient_id: 'P-X' }, 'sdnn_ms', ...WHOLE);
    await seedResults(h.csp, 'P-X', { source: '100', startMs: T0 + 30_000, durationS: 20 });
    await expect(h.csp.aggregate(patient, { patient_id: 'P-X' }, 'sdnn_ms', ...WHOLE)).rejects.toMatchObject({ code: 'HRV_ERR_AGGREGATE_INTEGRITY' });
    expect(old.n).toBe(3);
  });
});
