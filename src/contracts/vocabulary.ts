/**
 * The words the API and the dashboard share: roles, record types, aggregate metrics and the record shape.
 * Dependency-free, so the browser bundle imports the same definitions the server enforces.
 */

export const ROLES = ['patient', 'health_worker', 'doctor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * `hrv`: measures of one analysis window (from the pipeline or an upload); `rr_batch`: the beats behind a
 * pipeline result; `alert_ack`: a clinician's acknowledgement of an alert (records are append-only).
 */
export const RECORD_TYPES = ['hrv', 'rr_batch', 'vitals', 'note', 'rr_file', 'ecg_file', 'prescription', 'alert_ack'] as const;
export type RecordType = (typeof RECORD_TYPES)[number];

/** Metrics whose means the SP can compute under Paillier. */
export const AGGREGATE_METRICS = ['sdnn_ms', 'rmssd_ms', 'mean_hr_bpm', 'mean_nn_ms'] as const;
export type AggregateMetric = (typeof AGGREGATE_METRICS)[number];

/** A stored clinical record as callers see it (times in ms since the epoch). */
export interface ClinicalRecord {
  id: string;
  patient_id: string;
  type: RecordType;
  t_ms: number;
  author: string;
  created_ms: number;
  data: Record<string, unknown>;
}
