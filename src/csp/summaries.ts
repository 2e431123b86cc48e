/**
 * A per-patient summary the CSP keeps so the patient list answers without touching the SP: the latest
 * HRV window's headline measures, the time of the newest record, and the alert onsets with their
 * acknowledgements. Updated on every append; persisted sealed (AES-GCM under the KEK, like everything
 * the CSP stores) in its own database and loaded into memory at start.
 */
import type { ClinicalRecord } from './vocabulary.js';
import type { AlertAckData, HrvRecordData } from '../contracts/index.js';
import { openRecord, sealRecord, type KekRing } from './record-crypto.js';
import { bytes, type SqlDb, type SqlTx } from '../sql/index.js';

/** One alert onset of an `hrv` record. */
export interface AlertOnsetRef {
  hrv_record: string;
  alert_type: string;
  onset_ms: number;
}

/** What the patient list shows of one patient. */
export interface PatientSummary {
  latest: { t_ms: number; mean_hr_bpm: number | null; sdnn_ms: number | null; rmssd_ms: number | null } | null;
  last_data_ms: number | null;
  onsets: AlertOnsetRef[];
  acked: string[];
}

/** The key of an onset (what an acknowledgement names). */
export function onsetKey(o: { hrv_record: string; alert_type: string; onset_ms: number }): string {
  return `${o.hrv_record}|${o.alert_type}|${o.onset_ms}`;
}

/** Unacknowledged onsets of a summary. */
export function openAlerts(s: PatientSummary): number {
  const acked = new Set(s.acked);
  return s.onsets.filter((o) => !acked.has(onsetKey(o))).length;
}

/** Folds one appended record into a summary (returns a new one). */
export function foldRecord(s: PatientSummary, rec: ClinicalRecord): PatientSummary {
  const next: PatientSummary = { ...s, last_data_ms: Math.max(s.last_data_ms ?? -Infinity, rec.t_ms) };
  if (rec.type === 'hrv') {
    const d = rec.data as unknown as HrvRecordData;
    if (d.measures && (!s.latest || rec.t_ms >= s.latest.t_ms)) {
      next.latest = { t_ms: rec.t_ms, mean_hr_bpm: d.measures.mean_hr_bpm, sdnn_ms: d.measures.sdnn_ms, rmssd_ms: d.measures.rmssd_ms };
    }
    if (d.alerts.length > 0) next.onsets = [...s.onsets, ...d.alerts.map((a) => ({ hrv_record: rec.id, alert_type: a.type, onset_ms: a.onset_ms }))];
  }
  if (rec.type === 'alert_ack') next.acked = [...s.acked, onsetKey(rec.data as unknown as AlertAckData)];
  return next;
}

/** The summary of a patient with no records. */
export const EMPTY_SUMMARY: PatientSummary = { latest: null, last_data_ms: null, onsets: [], acked: [] };

/** The summaries of all patients, by patient ref, in memory and sealed in the CSP's database. */
export class SummaryStore {
  readonly #byRef = new Map<string, PatientSummary>();
  private constructor(private readonly kek: KekRing) {}

  /** Opens the store and loads every summary (its table: src/csp/schema.ts). */
  static async open(db: SqlDb, kek: KekRing): Promise<SummaryStore> {
    const store = new SummaryStore(kek);
    for (const row of await db.query<{ patient_ref: string; blob: unknown }>('SELECT patient_ref, blob FROM csp_patient_summary')) {
      try {
        store.#byRef.set(row.patient_ref, JSON.parse(openRecord(kek, `summary|${row.patient_ref}`, bytes(row.blob)).toString('utf8')) as PatientSummary);
      } catch {
        // A summary that does not open is rebuilt from the records on the next append; it holds nothing the records do not.
      }
    }
    return store;
  }

  /** The summary of a patient (empty when nothing is stored). */
  get(patientRef: string): PatientSummary {
    return this.#byRef.get(patientRef) ?? EMPTY_SUMMARY;
  }

  /**
   * The summary after folding `records` in, and the write that persists it inside the caller's transaction;
   * `commit` makes it the one in memory once that transaction has committed.
   */
  fold(patientRef: string, records: ClinicalRecord[], base: PatientSummary = this.get(patientRef)): { write(tx: SqlTx): Promise<void>; commit(): void } {
    let s = base;
    for (const r of records) s = foldRecord(s, r);
    const blob = sealRecord(this.kek, `summary|${patientRef}`, Buffer.from(JSON.stringify(s)));
    return {
      write: async (tx) => {
        await tx.query('INSERT INTO csp_patient_summary (patient_ref, blob) VALUES ($1, $2) ON CONFLICT (patient_ref) DO UPDATE SET blob = EXCLUDED.blob', [patientRef, blob]);
      },
      commit: () => {
        this.#byRef.set(patientRef, s);
      },
    };
  }

  /** Whether a summary for `patientRef` is stored (a missing one is rebuilt from the SP at start-up). */
  has(patientRef: string): boolean {
    return this.#byRef.has(patientRef);
  }
}
