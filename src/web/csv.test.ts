import { describe, expect, it } from 'vitest';
import { MEASURE_NAMES } from '../contracts/index.js';
import { csvField, measureSetCsv, measuresCsv } from './csv.js';
import { hrvEntries } from './hrv-model.js';
import { fixtureRecords } from './test-records.js';

describe('CSV export', () => {
  it('quotes fields that need it', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField(null)).toBe('');
    expect(csvField(NaN)).toBe('');
    expect(csvField(12.5)).toBe('12.5');
  });

  it('one row per window with every measure, from real records', () => {
    const entries = hrvEntries(fixtureRecords({ source: '100', durationS: 120 })).entries;
    const csv = measuresCsv(entries, 'UTC');
    const lines = csv.trimEnd().split('\r\n');
    expect(lines.length).toBe(entries.length + 1);
    const head = lines[0]!.split(',');
    for (const m of MEASURE_NAMES) expect(head).toContain(m);
    const last = lines.at(-1)!.split(',');
    const e = entries.at(-1)!;
    expect(Number(last[head.indexOf('sdnn_ms')])).toBe(e.data.measures!.sdnn_ms);
    expect(last[head.indexOf('t_end')]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    const one = measureSetCsv(e.data.measures!, e.data.t_start_ms, e.data.t_end_ms, 'UTC');
    expect(one).toContain(`rmssd_ms,${e.data.measures!.rmssd_ms}`);
  });
});
