/**
 * Patient-list filters. The API searches, sorts and pages; a filter here picks the sort under which the
 * patients it keeps come first (open alerts: most alerts first; no recent data: oldest data first), so the
 * server's paging stays correct and a page needs no more than one request, even with 1,000 patients.
 */
import type { PatientSort } from './api.js';
import type { PatientSummary } from './model.js';

export const STALE_MS = 24 * 3600_000;

export const PATIENT_FILTERS = [
  { id: 'all', label: 'All patients' },
  { id: 'alerts', label: 'With open alerts' },
  { id: 'stale', label: 'No data for 24 hours' },
] as const;
export type PatientFilter = (typeof PATIENT_FILTERS)[number]['id'];

/** The sort the server is asked for under a filter. */
export function filterSort(
  f: PatientFilter,
  sort: PatientSort,
  order: 'asc' | 'desc',
): { sort: PatientSort; order: 'asc' | 'desc' } {
  if (f === 'alerts') return { sort: 'alerts', order: 'desc' };
  if (f === 'stale') return { sort: 'last_data', order: 'asc' };
  return { sort, order };
}

/** Does a patient pass the filter? */
export function matchesPatientFilter(p: PatientSummary, f: PatientFilter, now: number): boolean {
  if (f === 'alerts') return (p.open_alerts ?? 0) > 0;
  if (f === 'stale') return !p.last_data_ms || now - p.last_data_ms > STALE_MS;
  return true;
}
