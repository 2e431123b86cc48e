import { describe, expect, it } from 'vitest';
import { pagePatientsLocally } from './api.js';
import { filterSort, matchesPatientFilter } from './patients.js';
import type { PatientSummary } from './model.js';

const now = Date.UTC(2026, 11, 2);
const many: PatientSummary[] = Array.from({ length: 1000 }, (_, i) => ({
  patient_id: `P-${String(i).padStart(4, '0')}`,
  display_name: `Patient ${i}`,
  latest: i % 7 === 0 ? null : { t_ms: now - i * 60_000, mean_hr_bpm: 50 + (i % 60), sdnn_ms: 20 + (i % 50), rmssd_ms: 10 + (i % 40) },
  last_data_ms: i % 7 === 0 ? null : now - i * 60_000,
  open_alerts: i % 13 === 0 ? 2 : 0,
}));

describe('patient list', () => {
  it('searches, sorts and pages 1,000 patients', () => {
    const p = pagePatientsLocally(many, { q: 'patient 99', sort: 'name', order: 'asc', offset: 0, limit: 25 });
    expect(p.total).toBe(11); // 99, 990–999
    const byHr = pagePatientsLocally(many, { sort: 'hr', order: 'desc', offset: 0, limit: 10 });
    expect(byHr.items[0]!.latest!.mean_hr_bpm).toBe(109);
    const t0 = performance.now();
    for (let k = 0; k < 20; k++) pagePatientsLocally(many, { sort: 'sdnn', order: 'asc', offset: 500, limit: 25 });
    expect((performance.now() - t0) / 20).toBeLessThan(20);
  });
  it('a filter asks for the sort that puts its patients first', () => {
    expect(filterSort('alerts', 'name', 'asc')).toEqual({ sort: 'alerts', order: 'desc' });
    const page = pagePatientsLocally(many, { ...filterSort('alerts', 'name', 'asc'), offset: 0, limit: 100 });
    const kept = page.items.filter((p) => matchesPatientFilter(p, 'alerts', now));
    expect(kept.length).toBe(77);
    expect(page.items.slice(0, 77)).toEqual(kept);
    const stale = pagePatientsLocally(many, { ...filterSort('stale', 'name', 'asc'), offset: 0, limit: 200 });
    expect(matchesPatientFilter(stale.items[0]!, 'stale', now)).toBe(true);
  });
});
