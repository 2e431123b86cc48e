import { describe, expect, it } from 'vitest';
import {
  activePrescriptions,
  assignmentChangeWords,
  authorName,
  checkVitals,
  knownNames,
  matchesFilter,
  mergeRecord,
  parsePatientIds,
  recordSummary,
  unknownPatientIds,
  uploadSizeProblem,
  type ApiRecord,
} from './model.js';
import { fixtureRecords } from './test-records.js';

let n = 0;
const rec = (type: ApiRecord['type'], t_ms: number, data: Record<string, unknown>, extra: Partial<ApiRecord> = {}): ApiRecord => ({
  id: `r${++n}`,
  patient_id: 'P-A',
  type,
  t_ms,
  author: 'u-7',
  created_ms: t_ms,
  data,
  ...extra,
});

describe('records in words', () => {
  it('an hrv record is summarised from data.measures', () => {
    const r = fixtureRecords({ source: '100', durationS: 60 }).filter((x) => x.type === 'hrv').at(-1)!;
    const m = (r.data.measures as Record<string, number>)!;
    expect(recordSummary(r)).toContain(`SDNN ${Number(m.sdnn_ms!.toPrecision(3))} ms`);
    expect(recordSummary(r)).not.toMatch(/seq|t_start/);
  });
  it('rr_batch, vitals, note, prescription, ack', () => {
    const b = fixtureRecords({ source: '100', durationS: 20 }).find((x) => x.type === 'rr_batch')!;
    expect(recordSummary(b)).toMatch(/^\d+ beats$/);
    expect(recordSummary(rec('vitals', 1, { hr_bpm: 72, systolic_mmhg: 128, diastolic_mmhg: 80 }))).toBe(
      'Heart rate 72 bpm, Systolic 128 mmHg, Diastolic 80 mmHg',
    );
    expect(recordSummary(rec('note', 1, { text: 'Feels well' }))).toBe('Feels well');
    expect(recordSummary(rec('prescription', 1, { text: 'Take daily', medication: 'Bisoprolol', dose: '2.5 mg' }))).toBe(
      'Bisoprolol · 2.5 mg · Take daily',
    );
    expect(recordSummary(rec('alert_ack', 1, { hrv_record: 'x', alert_type: 'irregular_rhythm', onset_ms: 1, comment: 'ok' }))).toBe(
      'Acknowledged irregular rhythm: ok',
    );
  });
  it('authors by name, never a bare id', () => {
    expect(authorName({ author: 'u-7', author_name: 'Dr Grace Hopper' })).toBe('Dr Grace Hopper');
    expect(authorName({ author: 'enclave-ingest' })).toBe('HRV analysis (enclave)');
    expect(authorName({ author: 'u-7' })).toBe('Unknown author');
    expect(authorName({ author: 'device:gw-1' })).toBe('Gateway gw-1 (enclave analysis)');
    expect(authorName({ author: 'service:enclave-ingest' })).toBe('HRV analysis (enclave)');
    expect(authorName({ author: 'u-7' }, knownNames({ user_id: 'u-7', username: 'doc', display_name: 'Dr Who' }))).toBe('Dr Who (you)');
  });
});

describe('vitals plausibility (the contract’s checks)', () => {
  it('accepts plausible values', () => {
    expect(checkVitals({ hr_bpm: '72', systolic_mmhg: '128', diastolic_mmhg: '80', temperature_c: '36,8' })).toEqual({
      ok: true,
      data: { hr_bpm: 72, systolic_mmhg: 128, diastolic_mmhg: 80, temperature_c: 36.8 },
    });
  });
  it('diastolic must be below systolic; ranges; numbers; at least one', () => {
    const a = checkVitals({ systolic_mmhg: '80', diastolic_mmhg: '120' });
    expect(a.ok).toBe(false);
    expect(!a.ok && a.errors.diastolic_mmhg).toBe('diastolic pressure must be below systolic');
    const b = checkVitals({ hr_bpm: '400' });
    expect(!b.ok && b.errors.hr_bpm).toMatch(/at most 300/);
    const c = checkVitals({ spo2_pct: 'abc' });
    expect(!c.ok && c.errors.spo2_pct).toMatch(/must be a number/);
    const d = checkVitals({});
    expect(!d.ok && d.errors.form).toBe('at least one vital sign is needed');
  });
});

describe('lists and forms', () => {
  it('active prescriptions: no end date or not yet ended', () => {
    const now = Date.UTC(2026, 11, 2);
    const list = [
      rec('prescription', 1, { text: 'a', valid_until: '2026-12-01' }),
      rec('prescription', 2, { text: 'b', valid_until: '2026-12-02' }),
      rec('prescription', 3, { text: 'c' }),
      rec('note', 4, { text: 'd' }),
    ];
    expect(activePrescriptions(list, now).map((r) => r.data.text)).toEqual(['c', 'b']);
  });
  it('assignments name existing patients; the confirmation says what changes', () => {
    expect(unknownPatientIds(['P-001', 'P-404'], [{ patient_id: 'P-001' }])).toEqual(['P-404']);
    expect(assignmentChangeWords('Dr X', ['P-1', 'P-2'], ['P-2', 'P-3'])).toBe("Change Dr X's patients? Add: P-3. Remove: P-1.");
    expect(assignmentChangeWords('Dr X', ['P-1'], ['P-1'])).toMatch(/No change/);
    expect(parsePatientIds('P-1, P-2 P-1')).toEqual(['P-1', 'P-2']);
    expect(() => parsePatientIds('P 1;x')).toThrow(/not a valid patient id/);
  });
  it('mergeRecord replaces by id, newest first, bounded', () => {
    const a = rec('note', 1, { text: 'a' });
    const b = rec('note', 2, { text: 'b' });
    const list = mergeRecord(mergeRecord([], a), b);
    expect(list.map((r) => r.id)).toEqual([b.id, a.id]);
    expect(mergeRecord(list, { ...a, data: { text: 'a2' } }, 1).map((r) => r.id)).toEqual([b.id]);
    expect(matchesFilter(a, { type: 'note', from_ms: 1, to_ms: 2 })).toBe(true);
    expect(matchesFilter(b, { type: 'note', from_ms: 1, to_ms: 2 })).toBe(false);
  });
  it('upload size', () => {
    expect(uploadSizeProblem({ text: 'x' })).toBeUndefined();
    expect(uploadSizeProblem({ text: 'x'.repeat(3 * 1024 * 1024) })).toMatch(/at most 2048 KiB/);
  });
});
