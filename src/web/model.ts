/**
 * Data shaping for the dashboard: records → chart series, latest-measure rows with units, alerts, record
 * summaries. Plain TypeScript without the DOM so it runs (and is tested) in Node.
 */

// The same definitions the server enforces (src/access/vocabulary.ts has no dependencies, so it bundles).
import type { ClinicalRecord, RecordType, Role } from '../access/vocabulary.js';

export {
  AGGREGATE_METRICS,
  RECORD_TYPES,
  type ClinicalRecord,
  type RecordType,
  type Role,
} from '../access/vocabulary.js';

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

export interface PatientSummary {
  patient_id: string;
  display_name: string;
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

const LABELS: Record<string, string> = {
  mean_nn_ms: 'Mean NN',
  sdnn_ms: 'SDNN',
  rmssd_ms: 'RMSSD',
  sdsd_ms: 'SDSD',
  pnn50_pct: 'pNN50',
  pnn20_pct: 'pNN20',
  mean_hr_bpm: 'Mean HR',
  hti: 'HRV triangular index',
  tinn_ms: 'TINN',
  vlf_ms2: 'VLF power',
  lf_ms2: 'LF power',
  hf_ms2: 'HF power',
  total_power_ms2: 'Total power',
  lf_hf: 'LF/HF',
  lf_nu: 'LF (n.u.)',
  hf_nu: 'HF (n.u.)',
  peak_lf_hz: 'LF peak',
  peak_hf_hz: 'HF peak',
  sd1_ms: 'SD1',
  sd2_ms: 'SD2',
  sd1_sd2: 'SD1/SD2',
  sampen: 'Sample entropy',
  dfa_alpha1: 'DFA α1',
  dfa_alpha2: 'DFA α2',
  n_nn: 'NN intervals',
  hr_bpm: 'Heart rate',
  systolic_mmhg: 'Systolic',
  diastolic_mmhg: 'Diastolic',
  spo2_pct: 'SpO₂',
  temperature_c: 'Temperature',
};

/** Display order of the measures table: the usual clinical ones first. */
const ORDER = Object.keys(LABELS);

/** The unit of a measure from its name's suffix (ms, ms², bpm, %, Hz; '' for ratios and counts). */
export function unitOf(name: string): string {
  if (name.endsWith('_ms2')) return 'ms²';
  if (name.endsWith('_ms')) return 'ms';
  if (name.endsWith('_bpm')) return 'bpm';
  if (name.endsWith('_pct')) return '%';
  if (name.endsWith('_hz')) return 'Hz';
  if (name.endsWith('_mmhg')) return 'mmHg';
  if (name.endsWith('_c')) return '°C';
  if (name.endsWith('_nu')) return 'n.u.';
  return '';
}

/** A readable label for a measure name (falls back to the name itself). */
export function labelOf(name: string): string {
  return LABELS[name] ?? name;
}

/** A number for display: 3 significant digits for small values, whole numbers from 1000 up. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return '—';
    if (Math.abs(v) >= 1000 || Number.isInteger(v)) return Math.round(v).toLocaleString('en-US');
    return Number(v.toPrecision(3)).toString();
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return JSON.stringify(v);
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Time series for uPlot: x in seconds since the epoch, one y array per key (null where missing). */
export interface ChartSeries {
  x: number[];
  ys: Array<Array<number | null>>;
}

/** HRV records → aligned series of `keys`, oldest first; non-HRV records are ignored; duplicate times keep the later record. */
export function hrvSeries(records: readonly ClinicalRecord[], keys: readonly string[]): ChartSeries {
  const byTime = new Map<number, ClinicalRecord>();
  for (const r of records) {
    if (r.type !== 'hrv' || !Number.isFinite(r.t_ms)) continue;
    const prev = byTime.get(r.t_ms);
    if (!prev || prev.created_ms <= r.created_ms) byTime.set(r.t_ms, r);
  }
  const sorted = [...byTime.values()].sort((a, b) => a.t_ms - b.t_ms);
  return {
    x: sorted.map((r) => r.t_ms / 1000),
    ys: keys.map((k) => sorted.map((r) => num(r.data[k]))),
  };
}

/** True when at least one value of the series is present. */
export function hasData(s: ChartSeries): boolean {
  return s.ys.some((y) => y.some((v) => v !== null));
}

/** One alert as stored with an HRV record (`data.alerts`): a string or an object with a message. */
export interface Alert {
  message: string;
  severity: string;
}

/** The alerts a record carries, normalised; malformed entries are shown as their JSON rather than dropped. */
export function alertsOf(r: ClinicalRecord): Alert[] {
  const a = r.data.alerts ?? r.data.alert;
  if (a === undefined || a === null || a === false) return [];
  const list = Array.isArray(a) ? a : [a];
  return list.map((x): Alert => {
    if (typeof x === 'string') return { message: x, severity: 'warning' };
    if (x && typeof x === 'object') {
      const o = x as Record<string, unknown>;
      const text = [o.message, o.text, o.detail, o.code, o.kind, o.type].find(
        (v) => typeof v === 'string',
      ) as string | undefined;
      return {
        message: text ?? JSON.stringify(o),
        severity:
          typeof o.severity === 'string' ? o.severity : typeof o.level === 'string' ? o.level : 'warning',
      };
    }
    return { message: JSON.stringify(x), severity: 'warning' };
  });
}

/** Alerts of the newest `n` HRV records, newest first, each with the time of its window (ms). */
export function recentAlerts(records: readonly ClinicalRecord[], n = 12): Array<Alert & { t_ms: number }> {
  const newest = records
    .filter((r) => r.type === 'hrv')
    .sort((a, b) => b.t_ms - a.t_ms || b.created_ms - a.created_ms)
    .slice(0, n);
  return newest.flatMap((r) => alertsOf(r).map((a) => ({ ...a, t_ms: r.t_ms })));
}

/** A row of the latest-measures table. */
export interface MeasureRow {
  name: string;
  label: string;
  value: string;
  unit: string;
}

/** The newest HRV record and its numeric measures as table rows (known measures in clinical order, then the rest). */
export function latestMeasures(
  records: readonly ClinicalRecord[],
): { record: ClinicalRecord; rows: MeasureRow[]; alerts: Alert[] } | null {
  let latest: ClinicalRecord | null = null;
  for (const r of records)
    if (
      r.type === 'hrv' &&
      (!latest || r.t_ms > latest.t_ms || (r.t_ms === latest.t_ms && r.created_ms > latest.created_ms))
    )
      latest = r;
  if (!latest) return null;
  const names = Object.keys(latest.data).filter(
    (k) => typeof latest.data[k] === 'number' || latest.data[k] === null,
  );
  const rank = (k: string) => {
    const i = ORDER.indexOf(k);
    return i < 0 ? ORDER.length : i;
  };
  names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return {
    record: latest,
    rows: names.map((name) => ({
      name,
      label: labelOf(name),
      value: formatValue(latest.data[name]),
      unit: unitOf(name),
    })),
    alerts: alertsOf(latest),
  };
}

/** A one-line description of a record for the records list. */
export function recordSummary(r: ClinicalRecord): string {
  const d = r.data;
  const str = (k: string) => (typeof d[k] === 'string' ? (d[k] as string) : undefined);
  switch (r.type) {
    case 'prescription':
      return [
        str('medication'),
        str('dose'),
        str('text'),
        str('valid_until') ? `until ${str('valid_until')}` : undefined,
      ]
        .filter(Boolean)
        .join(' · ');
    case 'note':
      return str('text') ?? JSON.stringify(d);
    case 'rr_file':
    case 'ecg_file': {
      const text = str('text');
      const lines = text ? text.split('\n').filter((l) => l.trim() !== '').length : 0;
      return `${str('filename') ?? 'file'}${text !== undefined ? ` (${lines.toLocaleString('en-US')} lines)` : ''}`;
    }
    case 'hrv':
    case 'vitals':
    default:
      return Object.entries(d)
        .filter(([k, v]) => k !== 'alerts' && (typeof v === 'number' || typeof v === 'string'))
        .slice(0, 6)
        .map(([k, v]) => `${labelOf(k)} ${formatValue(v)}${unitOf(k) ? ` ${unitOf(k)}` : ''}`)
        .join(', ');
  }
}

/** Adds or replaces `rec` in a newest-first list, keeping at most `max` records. */
export function mergeRecord(
  list: readonly ClinicalRecord[],
  rec: ClinicalRecord,
  max = 1000,
): ClinicalRecord[] {
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

export const ROLE_LABEL: Record<Role, string> = {
  patient: 'Patient',
  health_worker: 'Health worker',
  doctor: 'Doctor',
  admin: 'Administrator',
};
