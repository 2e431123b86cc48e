import { describe, expect, it } from 'vitest';
import { ALERT_RULE_WORDS, alertHistory, alertKey, alertWords, openAlerts } from './alerts.js';
import { hrvEntries } from './hrv-model.js';
import { fixtureRecords } from './test-records.js';
import type { ApiRecord } from './model.js';

describe('alerts in words', () => {
  it('states the rule and the value', () => {
    expect(alertWords({ type: 'tachycardia', value: 136.4 })).toBe(
      'Tachycardia: heart rate above 120 bpm for 60 s (136 bpm over the last 60 s)',
    );
    expect(alertWords({ type: 'bradycardia', value: 37.2 })).toContain('heart rate below 40 bpm for 60 s');
    expect(ALERT_RULE_WORDS.irregular_rhythm).toMatch(/irregular rhythm/);
  });

  it('history of a real irregular-rhythm onset, open until acknowledged by name', () => {
    const recs = fixtureRecords({ source: 'synthetic', syntheticPatient: 9, durationS: 300 });
    const entries = hrvEntries(recs).entries;
    const items = alertHistory(entries, []);
    expect(items.length).toBeGreaterThan(0);
    const a = items[0]!;
    expect(a.type).toBe('irregular_rhythm');
    expect(a.words).toMatch(/^Irregular rhythm: irregular rhythm over 120 s/);
    expect(openAlerts(items).length).toBe(items.length);
    const ack: ApiRecord = {
      id: 'ack1',
      patient_id: 'P-001',
      type: 'alert_ack',
      t_ms: a.onsetMs + 1000,
      author: 'u-doc1',
      author_name: 'Dr Ada Byron',
      created_ms: a.onsetMs + 2000,
      data: { hrv_record: a.hrvRecordId, alert_type: a.type, onset_ms: a.onsetMs, comment: 'seen' },
    };
    const after = alertHistory(entries, [ack]);
    expect(after[0]!.key).toBe(alertKey(a.hrvRecordId, a.type, a.onsetMs));
    expect(after[0]!.ack).toEqual({ by: 'Dr Ada Byron', atMs: a.onsetMs + 2000, comment: 'seen' });
    expect(openAlerts(after).length).toBe(items.length - 1);
  });
});
