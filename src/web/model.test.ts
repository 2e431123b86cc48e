import { describe, expect, it } from 'vitest';
import {
  alertsOf,
  recentAlerts,
  formatValue,
  hasData,
  hrvSeries,
  latestMeasures,
  matchesFilter,
  mergeRecord,
  parsePatientIds,
  recordSummary,
  unitOf,
  uploadSizeProblem,
  type ClinicalRecord,
} from './model.js';

let n = 0;
const rec = (
  type: ClinicalRecord['type'],
  t_ms: number,
  data: Record<string, unknown>,
  created_ms = t_ms,
): ClinicalRecord => ({ id: `r${++n}`, patient_id: 'P-A', type, t_ms, author: 'x', created_ms, data });

describe('records → chart series', () => {
  it('keeps HRV records only, sorts by time, seconds on x, null where a measure is missing', () => {
    const s = hrvSeries(
      [
        rec('hrv', 3000, { sdnn_ms: 50, rmssd_ms: 30 }),
        rec('vitals', 2000, { sdnn_ms: 999 }),
        rec('hrv', 1000, { sdnn_ms: 40, rmssd_ms: null }),
        rec('hrv', 2000, { rmssd_ms: 'n/a' }),
      ],
      ['sdnn_ms', 'rmssd_ms'],
    );
    expect(s.x).toEqual([1, 2, 3]);
    expect(s.ys).toEqual([
      [40, null, 50],
      [null, null, 30],
    ]);
    expect(hasData(s)).toBe(true);
    expect(hasData(hrvSeries([rec('hrv', 1, { sdnn_ms: null })], ['sdnn_ms']))).toBe(false);
  });

  it('two results for the same window: the one stored later wins', () => {
    const s = hrvSeries(
      [
        rec('hrv', 1000, { sdnn_ms: 41 }, 5),
        rec('hrv', 1000, { sdnn_ms: 42 }, 9),
        rec('hrv', 1000, { sdnn_ms: 40 }, 1),
      ],
      ['sdnn_ms'],
    );
    expect(s.x).toEqual([1]);
    expect(s.ys[0]).toEqual([42]);
  });

  it('NaN and Infinity become gaps rather than breaking the chart scale', () => {
    const s = hrvSeries(
      [
        rec('hrv', 1000, { lf_hf: Number.NaN }),
        rec('hrv', 2000, { lf_hf: Number.POSITIVE_INFINITY }),
        rec('hrv', 3000, { lf_hf: 1.5 }),
      ],
      ['lf_hf'],
    );
    expect(s.ys[0]).toEqual([null, null, 1.5]);
  });
});

describe('latest measures', () => {
  it('takes the newest HRV window and lists measures in clinical order with units', () => {
    const l = latestMeasures([
      rec('hrv', 1000, { sdnn_ms: 10 }),
      rec('hrv', 5000, { lf_ms2: 812.345, mean_hr_bpm: 71.26, sdnn_ms: 48.04, alerts: ['low SDNN'] }),
      rec('note', 9000, { text: 'x' }),
    ]);
    expect(l?.record.t_ms).toBe(5000);
    expect(l?.rows.map((r) => [r.label, r.value, r.unit])).toEqual([
      ['SDNN', '48', 'ms'],
      ['Mean HR', '71.3', 'bpm'],
      ['LF power', '812', 'ms²'],
    ]);
    expect(l?.alerts).toEqual([{ message: 'low SDNN', severity: 'warning' }]);
    expect(latestMeasures([rec('vitals', 1, { hr_bpm: 60 })])).toBeNull();
  });

  it('units follow the measure-name suffix', () => {
    expect(
      ['rmssd_ms', 'hf_ms2', 'mean_hr_bpm', 'pnn50_pct', 'peak_hf_hz', 'lf_hf', 'systolic_mmhg'].map(unitOf),
    ).toEqual(['ms', 'ms²', 'bpm', '%', 'Hz', '', 'mmHg']);
    expect([null, 1234.5, 0.012345, 42, Number.NaN].map(formatValue)).toEqual([
      '—',
      '1,235',
      '0.0123',
      '42',
      '—',
    ]);
  });
});

describe('alerts', () => {
  it('accepts strings, objects with a message and severity, and a single value', () => {
    expect(
      alertsOf(
        rec('hrv', 1, {
          alerts: [{ code: 'AF_SUSPECTED', severity: 'critical' }, { message: 'SDNN below 20 ms' }],
        }),
      ),
    ).toEqual([
      { message: 'AF_SUSPECTED', severity: 'critical' },
      { message: 'SDNN below 20 ms', severity: 'warning' },
    ]);
    expect(alertsOf(rec('hrv', 1, { alert: 'tachycardia' }))).toEqual([
      { message: 'tachycardia', severity: 'warning' },
    ]);
    expect(alertsOf(rec('hrv', 1, { sdnn_ms: 3 }))).toEqual([]);
  });

  it('recent alerts come from the newest HRV windows only, newest first', () => {
    const recs = [
      rec('hrv', 1000, { alerts: ['old'] }),
      rec('hrv', 2000, { alerts: ['mid'] }),
      rec('hrv', 3000, {}),
      rec('vitals', 4000, { alerts: ['not hrv'] }),
    ];
    expect(recentAlerts(recs, 2).map((a) => [a.message, a.t_ms])).toEqual([['mid', 2000]]);
    expect(recentAlerts(recs, 3).map((a) => a.message)).toEqual(['mid', 'old']);
  });
});

describe('records list', () => {
  it('summaries say what a reader needs', () => {
    expect(
      recordSummary(
        rec('prescription', 1, {
          medication: 'Bisoprolol',
          dose: '2.5 mg daily',
          text: 'Take in the morning',
          valid_until: '2027-01-01',
        }),
      ),
    ).toBe('Bisoprolol · 2.5 mg daily · Take in the morning · until 2027-01-01');
    expect(recordSummary(rec('rr_file', 1, { filename: 'day.txt', text: '800\n810\n\n790\n' }))).toBe(
      'day.txt (3 lines)',
    );
    expect(recordSummary(rec('vitals', 1, { hr_bpm: 72, systolic_mmhg: 120 }))).toBe(
      'Heart rate 72 bpm, Systolic 120 mmHg',
    );
  });

  it('a live record is merged once, newest first, and filtered like the list', () => {
    const a = rec('note', 1000, {});
    const b = rec('hrv', 3000, {});
    let list = mergeRecord([], a);
    list = mergeRecord(list, b);
    list = mergeRecord(list, b);
    expect(list.map((r) => r.id)).toEqual([b.id, a.id]);
    expect(matchesFilter(b, { type: 'note' })).toBe(false);
    expect(matchesFilter(b, { type: '', from_ms: 3000, to_ms: 3001 })).toBe(true);
    expect(matchesFilter(b, { to_ms: 3000 })).toBe(false);
  });
});

describe('inputs', () => {
  it('an RR file over the upload limit gets a clear message; one under it passes', () => {
    expect(
      uploadSizeProblem({ type: 'rr_file', data: { filename: 'a', text: '800\n'.repeat(100) } }, 64 * 1024),
    ).toBeUndefined();
    expect(
      uploadSizeProblem(
        { type: 'rr_file', data: { filename: 'a', text: '800\n'.repeat(20_000) } },
        64 * 1024,
      ),
    ).toMatch(/98 KiB.*at most 64 KiB/);
  });

  it('patient ids: split, deduplicated, bad ones named', () => {
    expect(parsePatientIds('P-1, P-2 P-1\n')).toEqual(['P-1', 'P-2']);
    expect(() => parsePatientIds('P-1, ../etc')).toThrow(/"\.\.\/etc"/);
  });
});
