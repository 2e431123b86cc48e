/**
 * Data shaping for the dashboard that is not HRV: users and patients, record summaries in words, authors
 * by name, filters, upload limits, form values. Plain TypeScript without the DOM so it runs (and is tested)
 * in Node. HRV records: hrv-model.ts; beats: beats.ts; alerts: alerts.ts.
 */
import {
  ecgFileDataSchema,
  noteDataSchema,
  prescriptionDataSchema,
  rrFileDataSchema,
  vitalsDataSchema,
  VITALS_LIMITS,
  type ClinicalRecord,
  type RecordType,
  type Role,
  type VitalsData,
} from '../contracts/index.js';
import { formatValue } from './format.js';

export {
  AGGREGATE_METRICS,
  RECORD_TYPES,
  type ClinicalRecord,
  type RecordType,
  type Role,
} from '../contracts/index.js';

/** A record as the API returns it: the stored record plus the author's display name. */
export interface ApiRecord extends ClinicalRecord {
  author_name?: string;
}

/** Service principals that write records, by the name the CSP gives them. */
const SERVICE_NAMES: Record<string, string> = {
  'enclave-ingest': 'HRV analysis (enclave)',
  'gateway-ingest': 'HRV analysis (enclave)',
};

/**
 * Who wrote a record, by name: the API's author_name; else a name the page already knows (the signed-in
 * user); else the kind of writer in words (a gateway, the analysis service) — never a bare user id.
 */
export function authorName(
  r: Pick<ApiRecord, 'author' | 'author_name'>,
  known?: ReadonlyMap<string, string>,
): string {
  if (r.author_name && r.author_name.trim() !== '') return r.author_name;
  const k = known?.get(r.author);
  if (k) return k;
  if (SERVICE_NAMES[r.author]) return SERVICE_NAMES[r.author]!;
  if (r.author.startsWith('device:')) return `Gateway ${r.author.slice('device:'.length)} (enclave analysis)`;
  if (r.author.startsWith('service:')) return SERVICE_NAMES[r.author.slice('service:'.length)] ?? 'Automatic analysis';
  return 'Unknown author';
}

/** Names the page knows without asking: the signed-in user's. */
export function knownNames(me: { user_id: string; username: string; display_name?: string } | null): Map<string, string> {
  return new Map(me ? [[me.user_id, `${me.display_name || me.username} (you)`]] : []);
}

export interface UserView {
  user_id: string;
  username: string;
  role: Role;
  display_name?: string;
  patient_id?: string;
  patients?: string[];
  version?: number;
  created_ms?: number;
  disabled?: boolean;
}

/** A row of the doctor's patient list. */
export interface PatientSummary {
  patient_id: string;
  display_name: string;
  latest?: { t_ms: number; mean_hr_bpm: number | null; sdnn_ms: number | null; rmssd_ms: number | null } | null;
  last_data_ms?: number | null;
  open_alerts?: number;
}

export interface AggregateAnswer {
  metric: string;
  mean: number | null;
  n: number;
  patients: number;
  from_ms: number;
  to_ms: number;
}

/** Largest record upload the API accepts (its RECORD_BODY_LIMIT), bytes. */
export const RECORD_UPLOAD_LIMIT = 2 * 1024 * 1024;

export const TYPE_LABEL: Record<RecordType, string> = {
  hrv: 'HRV window',
  rr_batch: 'Beats',
  vitals: 'Vitals',
  note: 'Note',
  rr_file: 'RR file',
  ecg_file: 'ECG file',
  prescription: 'Prescription',
  alert_ack: 'Alert acknowledged',
};

const VITAL_WORDS: Record<keyof VitalsData, [string, string]> = {
  hr_bpm: ['Heart rate', 'bpm'],
  systolic_mmhg: ['Systolic', 'mmHg'],
  diastolic_mmhg: ['Diastolic', 'mmHg'],
  spo2_pct: ['SpO₂', '%'],
  temperature_c: ['Temperature', '°C'],
};

/** A one-line description of a record for the records list (by the contract's shape of each type). */
export function recordSummary(r: ClinicalRecord): string {
  const d = r.data;
  switch (r.type) {
    case 'hrv': {
      const m = d.measures as Record<string, number | null> | null | undefined;
      const alerts = Array.isArray(d.alerts) ? d.alerts.length : 0;
      if (!m) return 'Window too short for measures';
      return (
        `HR ${formatValue(m.mean_hr_bpm)} bpm, SDNN ${formatValue(m.sdnn_ms)} ms, RMSSD ${formatValue(m.rmssd_ms)} ms, LF/HF ${formatValue(m.lf_hf)}` +
        (alerts ? ` — ${alerts} alert${alerts > 1 ? 's' : ''}` : '')
      );
    }
    case 'rr_batch': {
      const b = d.beats as { t_ms?: unknown[] } | undefined;
      const n = Array.isArray(b?.t_ms) ? b.t_ms.length : 0;
      return `${n} beats`;
    }
    case 'vitals': {
      const p = vitalsDataSchema.safeParse(d);
      if (!p.success) return 'Vital signs (unreadable)';
      return (Object.keys(VITAL_WORDS) as Array<keyof VitalsData>)
        .filter((k) => p.data[k] !== undefined)
        .map((k) => `${VITAL_WORDS[k][0]} ${formatValue(p.data[k])} ${VITAL_WORDS[k][1]}`)
        .join(', ');
    }
    case 'note': {
      const p = noteDataSchema.safeParse(d);
      return p.success ? p.data.text : 'Note (unreadable)';
    }
    case 'prescription': {
      const p = prescriptionDataSchema.safeParse(d);
      if (!p.success) return 'Prescription (unreadable)';
      return [p.data.medication, p.data.dose, p.data.text, p.data.valid_until ? `until ${p.data.valid_until}` : undefined]
        .filter(Boolean)
        .join(' · ');
    }
    case 'rr_file':
    case 'ecg_file': {
      const p = (r.type === 'rr_file' ? rrFileDataSchema : ecgFileDataSchema).safeParse(d);
      if (!p.success) return 'File (unreadable)';
      const f = p.data as { filename: string; n_intervals?: number; n_beats?: number; windows?: number };
      const count =
        f.n_intervals !== undefined ? `${f.n_intervals} intervals` : f.n_beats !== undefined ? `${f.n_beats} beats` : undefined;
      return [f.filename, count, f.windows !== undefined ? `${f.windows} windows` : undefined].filter(Boolean).join(', ');
    }
    case 'alert_ack': {
      const t = typeof d.alert_type === 'string' ? d.alert_type.replace('_', ' ') : 'alert';
      return `Acknowledged ${t}${typeof d.comment === 'string' && d.comment ? `: ${d.comment}` : ''}`;
    }
    default:
      return '';
  }
}

/** Active prescriptions: no end date, or an end date (YYYY-MM-DD) not before today; newest first. */
export function activePrescriptions<R extends ClinicalRecord>(records: readonly R[], nowMs: number): R[] {
  const today = new Date(nowMs).toISOString().slice(0, 10);
  return records
    .filter((r) => r.type === 'prescription')
    .filter((r) => {
      const p = prescriptionDataSchema.safeParse(r.data);
      return p.success && (!p.data.valid_until || p.data.valid_until.slice(0, 10) >= today);
    })
    .sort((a, b) => b.t_ms - a.t_ms);
}

/** Vitals form values (strings) → the record's data, or an error per field from the contract's checks. */
export function checkVitals(
  values: Partial<Record<keyof VitalsData, string>>,
): { ok: true; data: VitalsData } | { ok: false; errors: Partial<Record<keyof VitalsData | 'form', string>> } {
  const raw: Record<string, number> = {};
  const errors: Partial<Record<keyof VitalsData | 'form', string>> = {};
  for (const k of Object.keys(VITALS_LIMITS) as Array<keyof VitalsData>) {
    const v = (values[k] ?? '').trim();
    if (v === '') continue;
    const n = Number(v.replace(',', '.'));
    if (!Number.isFinite(n)) errors[k] = `${VITALS_LIMITS[k][2]} must be a number`;
    else raw[k] = n;
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  const p = vitalsDataSchema.safeParse(raw);
  if (p.success) return { ok: true, data: p.data };
  for (const issue of p.error.issues) {
    const k = (issue.path[0] as keyof VitalsData | undefined) ?? 'form';
    errors[k] ??= issue.message;
  }
  return { ok: false, errors };
}

/** Adds or replaces `rec` in a newest-first list, keeping at most `max` records. */
export function mergeRecord<R extends ClinicalRecord>(list: readonly R[], rec: R, max = 1000): R[] {
  const out = list.filter((r) => r.id !== rec.id);
  out.push(rec);
  out.sort((a, b) => b.t_ms - a.t_ms || b.created_ms - a.created_ms);
  return out.slice(0, max);
}

/** Does a record pass the list's filter (type and [from, to) in ms)? */
export function matchesFilter(
  r: ClinicalRecord,
  f: { type?: RecordType | ''; from_ms?: number; to_ms?: number },
): boolean {
  if (f.type && r.type !== f.type) return false;
  if (f.from_ms !== undefined && r.t_ms < f.from_ms) return false;
  if (f.to_ms !== undefined && r.t_ms >= f.to_ms) return false;
  return true;
}

/** The UTF-8 size of a JSON body, bytes. */
export function jsonBytes(body: unknown): number {
  return new TextEncoder().encode(JSON.stringify(body)).length;
}

/** An error message when an upload body is over `limit` bytes, else undefined. */
export function uploadSizeProblem(body: unknown, limit = RECORD_UPLOAD_LIMIT): string | undefined {
  const n = jsonBytes(body);
  if (n <= limit) return undefined;
  return `The upload is ${(n / 1024).toFixed(0)} KiB; the server accepts at most ${(limit / 1024).toFixed(0)} KiB per record. Split the file into shorter recordings.`;
}

/** A `datetime-local` input value (local time) → epoch ms; '' → undefined; throws on an unreadable value. */
export function parseLocalDateTime(field: string, value: string): number | undefined {
  if (value.trim() === '') return undefined;
  const t = new Date(value).getTime();
  if (!Number.isFinite(t)) throw new Error(`${field}: not a date and time`);
  return t;
}

/** Epoch ms → a `datetime-local` input value in local time. */
export function toLocalDateTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Comma- or space-separated patient ids → a clean list; throws naming the first bad id. */
export function parsePatientIds(text: string): string[] {
  const ids = text.split(/[\s,]+/).filter((s) => s !== '');
  for (const id of ids)
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id))
      throw new Error(`"${id}" is not a valid patient id (letters, digits, _ . - up to 64)`);
  return [...new Set(ids)];
}

/** The ids of `wanted` that are not among the known patients (an assignment must name existing patients). */
export function unknownPatientIds(wanted: readonly string[], known: ReadonlyArray<{ patient_id: string }>): string[] {
  const k = new Set(known.map((p) => p.patient_id));
  return wanted.filter((id) => !k.has(id));
}

/** What saving an assignment changes, in words, for the confirmation. */
export function assignmentChangeWords(user: string, before: readonly string[], after: readonly string[]): string {
  const added = after.filter((x) => !before.includes(x));
  const removed = before.filter((x) => !after.includes(x));
  if (added.length === 0 && removed.length === 0) return `No change to ${user}'s patients.`;
  return [
    `Change ${user}'s patients?`,
    added.length ? `Add: ${added.join(', ')}.` : '',
    removed.length ? `Remove: ${removed.join(', ')}.` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

export const ROLE_LABEL: Record<Role, string> = {
  patient: 'Patient',
  health_worker: 'Health worker',
  doctor: 'Doctor',
  admin: 'Administrator',
};
