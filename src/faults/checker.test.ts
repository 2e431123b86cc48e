import { describe, expect, it } from 'vitest';
import { HrvAnalyser } from '../enclave/index.js';
import { syntheticPatients } from '../sensor/index.js';
import { rrCsv } from '../test-support/sealed-batches.js';
import { ackedPrefix, checkCleanRun, checkExactlyOnce, expectedBeats, withClockSteps, type AnalysedBatch, type KeptResult } from './checker.js';

const START = Date.UTC(2026, 0, 1);
const patients = syntheticPatients(2, 3);
const expected = expectedBeats(patients, 30, START);

/** Cuts a patient's beats into batches of `size`, as a gateway would upload them. */
function batches(patient: string, size: number, from = 0, to?: number): AnalysedBatch[] {
  const beats = expected.get(patient)!.slice(from, to);
  const out: AnalysedBatch[] = [];
  for (let i = 0; i < beats.length; i += size) {
    const b = beats.slice(i, i + size);
    out.push({ patient, seq: out.length + 1, tMs: b.map((x) => x.tMs), rrMs: b.map((x) => x.rrMs) });
  }
  return out;
}

const all = (): AnalysedBatch[] => patients.flatMap((p) => batches(p.patient, 7));
const acked = (): Map<string, Set<number>> =>
  ackedPrefix(Object.fromEntries(patients.map((p) => [p.patient, expected.get(p.patient)!.length])));

describe('checkExactlyOnce', () => {
  it('holds when every acknowledged beat is in exactly one batch', () => {
    const r = checkExactlyOnce(expected, acked(), all());
    expect(r.ok).toBe(true);
    expect(r.analysed).toBe(r.acked);
    expect(r.acked).toBeGreaterThan(40);
  });

  it('counts a lost batch as missing beats of that patient, by sequence number', () => {
    const b = all();
    const lost = b.splice(2, 1)[0]!;
    const r = checkExactlyOnce(expected, acked(), b);
    expect(r.ok).toBe(false);
    expect(r.missing).toBe(lost.tMs.length);
    expect(r.perPatient[lost.patient]!.missingSeqs[0]).toBe(15);
    expect(r.duplicated).toBe(0);
  });

  it('counts a beat analysed twice (a re-cut batch under a new number) as duplicated', () => {
    const b = all();
    b.push({ ...b[1]!, seq: 99 });
    const r = checkExactlyOnce(expected, acked(), b);
    expect(r.ok).toBe(false);
    expect(r.duplicated).toBe(7);
    expect(r.missing).toBe(0);
  });

  it('counts a beat no sensor produced, or with a changed interval, as unknown', () => {
    const b = all();
    const first = b[0]!;
    b[0] = { ...first, rrMs: [first.rrMs[0]! + 1, ...first.rrMs.slice(1)] };
    const r = checkExactlyOnce(expected, acked(), b);
    expect(r.unknown).toBe(1);
    expect(r.missing).toBe(1);
    expect(r.ok).toBe(false);
  });

  it('does not require a beat the broker never acknowledged', () => {
    const p = patients[0]!.patient;
    const n = expected.get(p)!.length;
    const partial = ackedPrefix({ [p]: n - 5, [patients[1]!.patient]: expected.get(patients[1]!.patient)!.length });
    const b = [...batches(p, 7, 0, n - 5), ...batches(patients[1]!.patient, 7)];
    expect(checkExactlyOnce(expected, partial, b).ok).toBe(true);
  });

  it('does not count an excluded (quarantined) beat missing, and counts it when a result carries it', () => {
    const p = patients[0]!.patient;
    const stepped = withClockSteps(expected, [{ patient: p, seq: 10, deltaMs: 86_400_000 }]);
    const excluded = new Map([[p, new Set([10])]]);
    const beats = stepped.get(p)!;
    const without = [...patients.slice(1).flatMap((q) => batches(q.patient, 7))];
    const kept: AnalysedBatch = { patient: p, seq: 1, tMs: beats.filter((b) => b.seq !== 10).map((b) => b.tMs), rrMs: beats.filter((b) => b.seq !== 10).map((b) => b.rrMs) };
    const r = checkExactlyOnce(stepped, acked(), [...without, kept], excluded);
    expect(r.ok).toBe(true);
    expect(r.missing).toBe(0);
    const carried: AnalysedBatch = { patient: p, seq: 1, tMs: beats.map((b) => b.tMs), rrMs: beats.map((b) => b.rrMs) };
    const bad = checkExactlyOnce(stepped, acked(), [...without, carried], excluded);
    expect(bad.ok).toBe(false);
    expect(bad.excludedAnalysed).toBe(1);
  });
});

describe('checkCleanRun', () => {
  /** Results as the enclave's analysis makes them when file 3 arrives after 4 was released without it (late). */
  function lateRun(): KeptResult[] {
    const a = new HrvAnalyser();
    const file = (seq: number) => [{ gateway: 'gw', patient: 'p1', seq, t_start_ms: seq * 10_000, t_end_ms: (seq + 1) * 10_000 }, rrCsv(seq * 10_000, (seq + 1) * 10_000, 70).csv, `f${seq}`] as const;
    return [0, 1, 2, 4, 3, 5].map((seq) => ({ patient: 'P-1', result: a.analyse(...file(seq)).result }));
  }

  it('checks a late result on its own and the stream without it', () => {
    const kept = lateRun();
    expect(kept.find((k) => k.result.seq === 3)!.result.late).toBe(true);
    expect(checkCleanRun(kept, 'gw')).toEqual([]);
  });

  it('finds a late result that differs from its own analysis, or that nothing after it explains', () => {
    const kept = lateRun();
    const late = kept.find((k) => k.result.seq === 3)!;
    const altered = kept.map((k) => (k === late ? { ...k, result: { ...k.result, alerts: [{ type: 'tachycardia' as const, onset_ms: 35_000, value: 130 }] } } : k));
    expect(checkCleanRun(altered, 'gw')).toEqual(['P-1 seq 3: differs from the clean run in alerts']);
    // Flagged late though no later file of the patient was analysed before it: not what a clean run does.
    expect(checkCleanRun(kept.filter((k) => k.result.seq < 4), 'gw')).toEqual(['P-1 seq 3: flagged late, but no later file of P-1 was analysed']);
  });
});
