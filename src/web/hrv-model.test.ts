import { describe, expect, it } from 'vitest';
import { MEASURE_NAMES } from '../contracts/index.js';
import { fixtureRecords } from './test-records.js';
import {
  MEASURE_GROUPS,
  cleaningWords,
  hasData,
  hrvEntries,
  irregularWords,
  latestHrv,
  measureRows,
  plainSummary,
  rrBatchEntries,
  trendSeries,
} from './hrv-model.js';

const recs = fixtureRecords({ source: '100', durationS: 360 });

describe('HRV records from the real pipeline', () => {
  it('reads data.measures, never the record’s bookkeeping fields', () => {
    const { entries, invalid } = hrvEntries(recs);
    expect(invalid).toBe(0);
    expect(entries.length).toBe(36);
    const latest = latestHrv(entries)!;
    expect(latest.data.t_end_ms).toBe(Math.max(...entries.map((e) => e.data.t_end_ms)));
    const rows = measureRows(latest.data.measures, MEASURE_GROUPS[0]!.names);
    const sdnn = rows.find((r) => r.name === 'sdnn_ms')!;
    expect(sdnn.raw).toBe(latest.data.measures!.sdnn_ms);
    expect(Number(sdnn.value)).toBeCloseTo(latest.data.measures!.sdnn_ms!, 0);
    expect(sdnn.unit).toBe('ms');
    // No row is a bookkeeping field such as seq or t_start_ms.
    const shown = MEASURE_GROUPS.flatMap((g) => g.names);
    expect(shown).not.toContain('seq');
    expect([...shown].sort()).toEqual([...MEASURE_NAMES].sort());
  });

  it('a record whose data does not match the contract is counted, not shown', () => {
    const bad = { ...recs[0]!, id: 'bad', data: { sdnn_ms: 50 } };
    const { entries, invalid } = hrvEntries([...recs, bad]);
    expect(invalid).toBe(1);
    expect(entries.some((e) => e.record.id === 'bad')).toBe(false);
  });

  it('trend series: x at each window’s end in seconds, one y per measure', () => {
    const { entries } = hrvEntries(recs);
    const s = trendSeries(entries, ['mean_hr_bpm', 'sdnn_ms']);
    expect(s.x.length).toBe(entries.length);
    expect(s.x[0]).toBe(entries[0]!.data.t_end_ms / 1000);
    expect(s.ys[1]![5]).toBe(entries[5]!.data.measures?.sdnn_ms ?? null);
    expect(hasData(s)).toBe(true);
    const cut = trendSeries(entries, ['sdnn_ms'], entries[30]!.data.t_end_ms);
    expect(cut.x.length).toBe(6);
  });

  it('a re-delivered result for the same window is shown once', () => {
    const again = recs.filter((r) => r.type === 'hrv').slice(0, 3).map((r) => ({ ...r, id: `${r.id}-again`, created_ms: r.created_ms + 1000 }));
    const { entries } = hrvEntries([...recs, ...again]);
    expect(entries.length).toBe(36);
  });

  it('rr_batch records carry the beats', () => {
    const { entries, invalid } = rrBatchEntries(recs);
    expect(invalid).toBe(0);
    expect(entries.length).toBe(36);
    expect(entries[0]!.data.beats.t_ms.length).toBe(entries[0]!.data.beats.rr_ms.length);
  });

  it('cleaning summary and the patient’s summary in words', () => {
    const latest = latestHrv(hrvEntries(recs).entries)!;
    const c = latest.data.cleaning!;
    const words = cleaningWords(c);
    expect(words).toContain(`${c.n_input} intervals`);
    expect(words).toContain(`${c.n_excluded} excluded`);
    expect(cleaningWords(null)).toMatch(/too few/);
    const plain = plainSummary(latest, 0, () => 'TIME').join(' ');
    expect(plain).toContain(`${Math.round(latest.data.measures!.mean_hr_bpm!)} beats per minute`);
    expect(plain).toContain('no open alerts');
    expect(plainSummary(null, 0, String)[0]).toMatch(/No heart-rhythm/);
    expect(irregularWords({ af_suspected: false })).toBe('');
    expect(irregularWords({ af_suspected: true, af_spans_s: [[10, 70]], n_af_uncorrected: 80 })).toBe(
      'Irregular rhythm suspected in 1 stretch (60 s): 80 intervals there were left uncorrected, as ectopic-beat correction does not apply.',
    );
  });
});
