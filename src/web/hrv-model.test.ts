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
  windowWords,
  rrBatchEntries,
  trendSeries,
  bucketSeries,
} from './hrv-model.js';
import { foldTrend } from '../api/index.js';

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

  it('trend series: x at each measured window’s end in seconds, one y per measure; carried-forward measures once', () => {
    const { entries } = hrvEntries(recs);
    const s = trendSeries(entries, ['mean_hr_bpm', 'sdnn_ms']);
    // The enclave computes the measures once per minute of stream (10-s batches): the others carry them forward.
    const own = entries.filter((e) => e.data.measured!.end_ms === e.data.t_end_ms);
    expect(own.length).toBeGreaterThanOrEqual(6);
    expect(own.length).toBeLessThan(entries.length);
    expect(s.x).toEqual(own.map((e) => e.data.t_end_ms / 1000));
    expect(s.ys[1]![5]).toBe(own[5]!.data.measures?.sdnn_ms ?? null);
    expect(hasData(s)).toBe(true);
    const cut = trendSeries(entries, ['sdnn_ms'], own.at(-2)!.data.t_end_ms);
    expect(cut.x.length).toBe(2);
    const carried = entries.find((e) => e.data.measured!.end_ms < e.data.t_end_ms)!;
    expect(windowWords(carried.data)).toMatch(/measures of the [\d.]+-min window ending \d+ s before its end$/);
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

describe('a downsampled trend (the API\'s buckets) as chart series', () => {
  it('one point per bucket with values, at its middle, the bucket means; empty buckets leave no point', () => {
    const { entries } = hrvEntries(recs);
    const from = Math.min(...entries.map((e) => e.record.t_ms));
    const to = Math.max(...entries.map((e) => e.record.t_ms)) + 1;
    const points = entries.map((e) => ({ t_ms: e.record.t_ms, measures: e.data.measures }));
    // Twice as many buckets as the windows span in 10-s steps: some are empty.
    const fold = foldTrend(points, from, to, 80);
    const answer = { patient_id: 'P-001', from_ms: from, to_ms: to, windows: points.length, refused: 0, integrity_failures: [], ...fold };
    const s = bucketSeries(answer, ['sdnn_ms', 'mean_hr_bpm']);
    const filled = fold.buckets.filter((b) => b.sdnn_ms.n > 0 || b.mean_hr_bpm.n > 0);
    expect(filled.length).toBeLessThan(fold.buckets.length);
    expect(s.x).toHaveLength(filled.length);
    expect(s.x[0]).toBeCloseTo((filled[0]!.t_start_ms + filled[0]!.t_end_ms) / 2000, 6);
    // Each bucket's mean is the mean of the windows that fell in it.
    const b = filled[3]!;
    const inB = entries.filter((e) => e.record.t_ms >= b.t_start_ms && e.record.t_ms < b.t_end_ms && e.data.measures?.sdnn_ms != null);
    const mean = inB.reduce((a, e) => a + e.data.measures!.sdnn_ms!, 0) / inB.length;
    expect(s.ys[0]![3]).toBeCloseTo(mean, 6);
    expect(s.x.every((x, i) => i === 0 || x > s.x[i - 1]!)).toBe(true);
  });
});
