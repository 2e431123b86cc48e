/**
 * Attacks on Paillier aggregates by a malicious SP, run against the real SP code: the SP edits its own
 * database (what an operator with `psql` can do) or answers from a database wrapper it controls. Every
 * forgery must be detected, and a detection must stop aggregate queries to that SP, so that the check
 * cannot be used as an oracle.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeHarness, type Harness } from '../test-support/access/harness.js';
import { seedResults } from '../test-support/access/seed.js';
import { addToStoredCiphertext } from '../test-support/access/sp-attacks.js';
import type { SqlDb } from '../sql/index.js';
import type { Principal } from './policy.js';
import type { AggregateMetric } from './vocabulary.js';
import { blindIndex } from './record-crypto.js';
import { AggregateMac } from './aggregates.js';

const PW = 'correct horse battery staple';
const T0 = Date.UTC(2026, 0, 1);
const WHOLE = [T0, T0 + 10_000_000] as const;
// The slot layout is public (it is in the source the SP runs): 64-bit slots; per metric a count and a sum
// (×1000); slot 8 counts records.
const SLOT_BITS = 64n;
const SDNN_SUM_SLOT = 1n;
const NN_SUM_SLOT = 7n;
const COUNT_SLOT = 8n;

// One system for the file (a harness costs tens of seconds on a loaded machine); each test attacks its own
// patient, and an admin's resume (itself under test) lifts the suspension a detected attack leaves.
let h: Harness;
let admin: Principal;
const readers = new Map<string, Principal>();
const TIMEOUT = 600_000;

beforeAll(async () => {
  h = await makeHarness('memory:');
  await h.csp.registerUser('bootstrap', { username: 'admin', password: PW, role: 'admin' });
  admin = await h.csp.authenticate((await h.csp.login('admin', PW)).access_token);
}, TIMEOUT);

afterAll(async () => {
  await h?.close();
});

afterEach(async () => {
  if (h.csp.aggregatesSuspendedSince) await h.csp.resumeAggregates(admin, 'test clean-up after a detected attack');
});

/** A new patient (who reads her own aggregates), seeded from the pipeline's analysis of ECG record `source`. */
async function patient(id: string, source = '100', durationS = 30): Promise<Principal> {
  const username = id.toLowerCase();
  await h.csp.registerUser('bootstrap', { username, password: PW, role: 'patient', patient_id: id });
  await seedResults(h.csp, id, { source, startMs: T0, durationS });
  const p = await h.csp.authenticate((await h.csp.login(username, PW)).access_token);
  readers.set(id, p);
  return p;
}

const refOf = (id: string) => blindIndex(h.keys.indexKey, 'patient', id);

/** The SP's rows of one patient (the SP tells patients apart by their blind reference). */
async function rowsOf(id: string): Promise<Array<{ patient_ref: string; seq: number }>> {
  return h.spDb.query('SELECT patient_ref, seq FROM sp_metadata WHERE patient_ref = $1 ORDER BY seq', [refOf(id)]);
}

/** The SP multiplies one stored aggregate ciphertext of patient `id` by Enc(m). Returns an undo. */
const addToStored = (id: string, m: bigint) => addToStoredCiphertext(h.spDb, refOf(id), m);

/** The outcome of one aggregate query as its caller sees it: the answer, or the error code. */
async function outcome(id: string, metric: AggregateMetric): Promise<string> {
  try {
    const a = await h.csp.aggregate(readers.get(id)!, { patient_id: id }, metric, ...WHOLE);
    return `answer n=${a.n}`;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

describe('aggregates under a malicious SP', () => {
  it(
    'an SP that multiplies a stored ciphertext by an encryption of its choice is caught, audited, and gets no further aggregate query, even after a restart',
    async () => {
      const p = await patient('P-FORGE', '100', 60);
      const honest = await h.csp.aggregate(p, { patient_id: 'P-FORGE' }, 'sdnn_ms', ...WHOLE);
      expect(honest.n).toBeGreaterThan(0);
      // +500 ms in one window's SDNN sum; the count slots are left alone, so a count check alone passes.
      const undo = await addToStored('P-FORGE', 500_000n << (SDNN_SUM_SLOT * SLOT_BITS));
      await expect(h.csp.aggregate(p, { patient_id: 'P-FORGE' }, 'sdnn_ms', ...WHOLE)).rejects.toMatchObject({ code: 'HRV_ERR_AGGREGATE_INTEGRITY' });
      const flagged = (await h.csp.audit.entries()).filter((e) => e.action === 'aggregate.integrity_failure');
      expect(flagged).toHaveLength(1);
      expect(flagged[0]!.flagged).toBe(true);

      // The attacker undoes the forgery and asks again: the CSP does not even send the query.
      await undo();
      const before = h.sp.stats.requests;
      await expect(h.csp.aggregate(p, { patient_id: 'P-FORGE' }, 'sdnn_ms', ...WHOLE)).rejects.toMatchObject({ code: 'HRV_ERR_AGGREGATES_SUSPENDED' });
      expect(h.sp.stats.requests).toBe(before);

      // The suspension is durable: a restarted CSP still sends nothing.
      await h.restartCsp();
      const afterRestart = h.sp.stats.requests;
      await expect(h.csp.aggregate(p, { patient_id: 'P-FORGE' }, 'sdnn_ms', ...WHOLE)).rejects.toMatchObject({ code: 'HRV_ERR_AGGREGATES_SUSPENDED' });
      expect(h.sp.stats.requests).toBe(afterRestart);

      // Only an admin's explicit, audited action resumes them.
      await expect(h.csp.resumeAggregates(p, 'checked the SP, all fine')).rejects.toMatchObject({ code: 'HRV_ERR_FORBIDDEN' });
      expect(await h.csp.resumeAggregates(admin, 'SP database restored from a verified backup')).toBe(true);
      expect((await h.csp.aggregate(p, { patient_id: 'P-FORGE' }, 'sdnn_ms', ...WHOLE)).mean).toBeCloseTo(honest.mean!, 9);
      expect((await h.csp.audit.entries()).some((e) => e.action === 'aggregate.resume' && e.flagged && e.actor !== 'csp')).toBe(true);
    },
    TIMEOUT,
  );

  it(
    'the count-slot overflow oracle learns nothing: the answers to the attack are the same whatever the mean NN, and only its first query reaches the SP',
    async () => {
      // The reviewer's attack: add 2^64 − t to one record's NN-sum slot; the sum carries into the
      // record-count slot iff Σ NN·1000 ≥ t, and a count check then refuses: one bit per query, a binary search.
      const attack = async (id: string) => {
        const transcript: string[] = [];
        let lo = 0n;
        let hi = 3n * 2_000_000n; // three windows, mean NN below 2 s
        let toSp = 0;
        for (let i = 0; i < 9; i++) {
          const t = (lo + hi) / 2n;
          const undo = await addToStored(id, ((1n << SLOT_BITS) - t) << (NN_SUM_SLOT * SLOT_BITS));
          const before = h.sp.stats.requests;
          const o = await outcome(id, 'mean_nn_ms');
          if (h.sp.stats.requests !== before) toSp++;
          await undo();
          transcript.push(o);
          if (o === 'answer n=3') hi = t;
          else lo = t;
        }
        return { transcript, toSp };
      };
      await patient('P-SLOW', '119');
      await patient('P-FAST', '100');
      const slow = await h.csp.aggregate(readers.get('P-SLOW')!, { patient_id: 'P-SLOW' }, 'mean_nn_ms', ...WHOLE);
      const fast = await h.csp.aggregate(readers.get('P-FAST')!, { patient_id: 'P-FAST' }, 'mean_nn_ms', ...WHOLE);
      expect(Math.abs(slow.mean! - fast.mean!)).toBeGreaterThan(20);
      const a = await attack('P-SLOW');
      // The operator investigates and resumes; the attacker then tries the other patient.
      if (h.csp.aggregatesSuspendedSince) await h.csp.resumeAggregates(admin, 'investigated, resuming for the next patient');
      const b = await attack('P-FAST');
      expect(a.transcript).toEqual(b.transcript);
      expect(a.transcript[0]).toBe('HRV_ERR_AGGREGATE_INTEGRITY');
      expect(new Set(a.transcript.slice(1))).toEqual(new Set(['HRV_ERR_AGGREGATES_SUSPENDED']));
      expect([a.toSp, b.toSp]).toEqual([1, 1]);
    },
    TIMEOUT,
  );

  it(
    'a record dropped from the sum is caught, also when the SP patches the record count back',
    async () => {
      await patient('P-DROP');
      const rows = await rowsOf('P-DROP');
      expect(rows).toHaveLength(3);
      await h.spDb.query('DELETE FROM sp_metadata WHERE patient_ref = $1 AND seq = $2', [rows[2]!.patient_ref, rows[2]!.seq]);
      // A count check alone is fooled by one more in the count slot of another record.
      await addToStored('P-DROP', 1n << (COUNT_SLOT * SLOT_BITS));
      expect(await outcome('P-DROP', 'sdnn_ms')).toBe('HRV_ERR_AGGREGATE_INTEGRITY');
    },
    TIMEOUT,
  );

  it(
    'an old aggregate replayed by the SP after new records were stored is caught',
    async () => {
      await patient('P-REPLAY');
      // The SP answers every aggregate from the rows it summed the first time (a database it controls).
      const real = h.spDb.query.bind(h.spDb);
      let first: unknown[] | undefined;
      h.spDb.query = (async (sql: string, params?: unknown[]) => {
        if (!/FROM sp_metadata WHERE metric_tag/.test(sql)) return real(sql, params);
        first ??= await real(sql, params);
        return first;
      }) as SqlDb['query'];
      try {
        expect(await outcome('P-REPLAY', 'sdnn_ms')).toBe('answer n=3');
        await seedResults(h.csp, 'P-REPLAY', { source: '100', startMs: T0 + 30_000, durationS: 20 });
        expect(await outcome('P-REPLAY', 'sdnn_ms')).toBe('HRV_ERR_AGGREGATE_INTEGRITY');
      } finally {
        h.spDb.query = real;
      }
    },
    TIMEOUT,
  );
});

describe('the aggregate MAC (T ≡ k·S + Σ r mod n)', () => {
  it('accepts the honest sums and refuses any shift, scaling, or other set of records', () => {
    const n = h.keys.paillier.publicKey.n;
    const mac = new AggregateMac(h.keys.aggregateMacKey, n);
    const ref = refOf('P-MAC');
    const xs = [123_456n << 64n, 789n, (1n << 512n) + 5n];
    const recs = xs.map((_, i) => ({ patient_ref: ref, seq: i + 1 }));
    const s = xs.reduce((a, b) => a + b) % n;
    const t = xs.reduce((a, x, i) => a + mac.tag(x, ref, i + 1), 0n) % n;
    expect(mac.verify(s, t, recs)).toBe(true);
    expect(mac.verify((s + 1n) % n, t, recs)).toBe(false);
    expect(mac.verify((s + (1n << 64n)) % n, t, recs)).toBe(false);
    expect(mac.verify((2n * s) % n, (2n * t) % n, recs)).toBe(false);
    expect(mac.verify(s, t, recs.slice(0, 2))).toBe(false);
    expect(mac.verify(s, t, [...recs.slice(0, 2), { patient_ref: ref, seq: 4 }])).toBe(false);
    expect(mac.verify(s, t, recs.map((r) => ({ ...r, patient_ref: refOf('P-OTHER') })))).toBe(false);
    // Another key refuses the same sums: nothing an SP holds makes a valid tag.
    expect(new AggregateMac(Buffer.alloc(32, 7), n).verify(s, t, recs)).toBe(false);
  });
});
