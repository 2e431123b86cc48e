/** CSV export of HRV measures (RFC 4180: comma-separated, CRLF, quoted where needed), one row per window. */
import { MEASURE_NAMES, type HrvMeasures } from '../contracts/index.js';
import { fmtDateTime } from './format.js';
import { measuredSpan, type HrvEntry } from './hrv-model.js';

/** A CSV field, quoted when it holds a comma, quote or line break. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const csvLine = (fields: readonly unknown[]) => fields.map(csvField).join(',');

/** The measures of the windows as CSV: times (epoch ms and readable), window facts, every measure, cleaning counts, alerts, and the window the measures describe. */
export function measuresCsv(entries: readonly HrvEntry[], timeZone?: string): string {
  const head = [
    't_start_ms',
    't_end_ms',
    't_end',
    'source',
    'partial',
    'n',
    ...MEASURE_NAMES,
    'n_kept',
    'n_excluded',
    'n_corrected',
    'af_suspected',
    'alerts',
    'measured_start_ms',
    'measured_end_ms',
  ];
  const lines = [csvLine(head)];
  for (const e of entries) {
    const d = e.data;
    const m: HrvMeasures | null = d.measures;
    lines.push(
      csvLine([
        d.t_start_ms,
        d.t_end_ms,
        fmtDateTime(d.t_end_ms, timeZone),
        d.source.kind === 'pipeline' ? `${d.source.gateway}#${d.source.seq}` : d.source.file_name,
        d.partial,
        d.n,
        ...MEASURE_NAMES.map((k) => m?.[k] ?? null),
        d.cleaning?.n_kept ?? null,
        d.cleaning?.n_excluded ?? null,
        d.cleaning?.n_corrected ?? null,
        d.af_suspected,
        d.alerts.map((a) => a.type).join(' '),
        measuredSpan(d).start_ms,
        measuredSpan(d).end_ms,
      ]),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** One measure set (e.g. the browser's analysis of a selected window) as a two-column CSV. */
export function measureSetCsv(m: HrvMeasures, fromMs: number, toMs: number, timeZone?: string): string {
  const lines = [
    csvLine(['measure', 'value']),
    csvLine(['window_start', fmtDateTime(fromMs, timeZone)]),
    csvLine(['window_end', fmtDateTime(toMs, timeZone)]),
  ];
  for (const k of MEASURE_NAMES) lines.push(csvLine([k, m[k]]));
  return `${lines.join('\r\n')}\r\n`;
}
