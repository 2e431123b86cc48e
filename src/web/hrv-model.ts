/**
 * HRV records as the contracts define them (`data.measures`, `data.cleaning`, `data.alerts`, …) → what the
 * dashboard shows: the latest window, measure tables grouped as a cardiologist reads them, trend series, the
 * cleaning summary in words. Records whose data do not match the contract are set aside and counted, never
 * shown as blanks or as their bookkeeping fields.
 */
import {
  hrvRecordDataSchema,
  rrBatchDataSchema,
  type CleaningSummary,
  type HrvMeasures,
  type HrvRecordData,
  type RrBatchData,
  type TrendMeasure,
  type TrendsAnswer,
} from '../contracts/index.js';
import { formatValue } from './format.js';
import type { ApiRecord } from './model.js';

/** An `hrv` record whose data passed the contract. */
export interface HrvEntry {
  record: ApiRecord;
  data: HrvRecordData;
}

/** An `rr_batch` record whose data passed the contract. */
export interface RrBatchEntry {
  record: ApiRecord;
  data: RrBatchData;
}

/** `hrv` records → valid entries (oldest first; a later-stored duplicate of a window wins) and the count of invalid ones. */
export function hrvEntries(records: readonly ApiRecord[]): { entries: HrvEntry[]; invalid: number } {
  const byId = new Map<string, HrvEntry>();
  let invalid = 0;
  for (const r of records) {
    if (r.type !== 'hrv') continue;
    const p = hrvRecordDataSchema.safeParse(r.data);
    if (!p.success) {
      invalid++;
      continue;
    }
    byId.set(r.id, { record: r, data: p.data });
  }
  // One entry per analysed window (source + end time): a re-delivered result replaces the earlier copy.
  const byWindow = new Map<string, HrvEntry>();
  for (const e of byId.values()) {
    const k = `${sourceKey(e.data)}@${e.data.t_end_ms}`;
    const prev = byWindow.get(k);
    if (!prev || prev.record.created_ms <= e.record.created_ms) byWindow.set(k, e);
  }
  const entries = [...byWindow.values()].sort(
    (a, b) => a.data.t_end_ms - b.data.t_end_ms || a.record.created_ms - b.record.created_ms,
  );
  return { entries, invalid };
}

function sourceKey(d: { source: HrvRecordData['source'] }): string {
  return d.source.kind === 'pipeline' ? `p:${d.source.gateway}` : `u:${d.source.file_record}:${d.source.window}`;
}

/** `rr_batch` records → valid entries, oldest first, and the count of invalid ones. */
export function rrBatchEntries(records: readonly ApiRecord[]): { entries: RrBatchEntry[]; invalid: number } {
  const out: RrBatchEntry[] = [];
  const seen = new Set<string>();
  let invalid = 0;
  for (const r of records) {
    if (r.type !== 'rr_batch' || seen.has(r.id)) continue;
    seen.add(r.id);
    const p = rrBatchDataSchema.safeParse(r.data);
    if (!p.success) {
      invalid++;
      continue;
    }
    out.push({ record: r, data: p.data });
  }
  out.sort((a, b) => a.record.t_ms - b.record.t_ms);
  return { entries: out, invalid };
}

/** The newest window that has measures (or, failing that, the newest window). */
export function latestHrv(entries: readonly HrvEntry[]): HrvEntry | null {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.data.measures) return entries[i]!;
  return entries.at(-1) ?? null;
}

/** Label, unit and a short explanation of every measure. */
export const MEASURE_INFO: Record<keyof HrvMeasures, { label: string; unit: string; hint: string }> = {
  mean_nn_ms: { label: 'Mean NN', unit: 'ms', hint: 'mean of the normal-to-normal intervals' },
  sdnn_ms: { label: 'SDNN', unit: 'ms', hint: 'standard deviation of NN intervals' },
  rmssd_ms: { label: 'RMSSD', unit: 'ms', hint: 'root mean square of successive differences' },
  sdsd_ms: { label: 'SDSD', unit: 'ms', hint: 'standard deviation of successive differences' },
  pnn50_pct: { label: 'pNN50', unit: '%', hint: 'successive differences above 50 ms' },
  pnn20_pct: { label: 'pNN20', unit: '%', hint: 'successive differences above 20 ms' },
  mean_hr_bpm: { label: 'Mean HR', unit: 'bpm', hint: 'mean heart rate' },
  hti: { label: 'HRV triangular index', unit: '', hint: 'NN count / histogram mode count' },
  tinn_ms: { label: 'TINN', unit: 'ms', hint: 'triangular interpolation of the NN histogram' },
  vlf_ms2: { label: 'VLF power', unit: 'ms²', hint: '0.0033–0.04 Hz' },
  lf_ms2: { label: 'LF power', unit: 'ms²', hint: '0.04–0.15 Hz' },
  hf_ms2: { label: 'HF power', unit: 'ms²', hint: '0.15–0.4 Hz' },
  total_power_ms2: { label: 'Total power', unit: 'ms²', hint: 'up to 0.4 Hz' },
  lf_hf: { label: 'LF/HF', unit: '', hint: 'ratio of LF to HF power' },
  lf_nu: { label: 'LF', unit: 'n.u.', hint: 'LF / (LF + HF)' },
  hf_nu: { label: 'HF', unit: 'n.u.', hint: 'HF / (LF + HF)' },
  peak_lf_hz: { label: 'LF peak', unit: 'Hz', hint: 'frequency of the LF maximum' },
  peak_hf_hz: { label: 'HF peak', unit: 'Hz', hint: 'frequency of the HF maximum' },
  sd1_ms: { label: 'SD1', unit: 'ms', hint: 'Poincaré spread across the identity line' },
  sd2_ms: { label: 'SD2', unit: 'ms', hint: 'Poincaré spread along the identity line' },
  sd1_sd2: { label: 'SD1/SD2', unit: '', hint: 'ratio of SD1 to SD2' },
  sampen: { label: 'Sample entropy', unit: '', hint: 'm = 2, r = 0.2 SD' },
  dfa_alpha1: { label: 'DFA α1', unit: '', hint: 'short-term scaling, 4–16 beats' },
  dfa_alpha2: { label: 'DFA α2', unit: '', hint: 'long-term scaling, 16–64 beats' },
};

/** The three measure tables, in clinical order. */
export const MEASURE_GROUPS: ReadonlyArray<{ id: string; title: string; names: ReadonlyArray<keyof HrvMeasures> }> = [
  {
    id: 'time',
    title: 'Time domain',
    names: ['mean_nn_ms', 'mean_hr_bpm', 'sdnn_ms', 'rmssd_ms', 'sdsd_ms', 'pnn50_pct', 'pnn20_pct', 'hti', 'tinn_ms'],
  },
  {
    id: 'frequency',
    title: 'Frequency domain',
    names: ['vlf_ms2', 'lf_ms2', 'hf_ms2', 'total_power_ms2', 'lf_hf', 'lf_nu', 'hf_nu', 'peak_lf_hz', 'peak_hf_hz'],
  },
  { id: 'nonlinear', title: 'Nonlinear', names: ['sd1_ms', 'sd2_ms', 'sd1_sd2', 'sampen', 'dfa_alpha1', 'dfa_alpha2'] },
];

/** A row of a measure table. */
export interface MeasureRow {
  name: keyof HrvMeasures;
  label: string;
  unit: string;
  hint: string;
  /** The value as shown (number text or '—'). */
  value: string;
  raw: number | null;
}

/** Rows of one group (or of `names`) for a measure set; every row is present, '—' where the window was too short. */
export function measureRows(m: HrvMeasures | null, names: ReadonlyArray<keyof HrvMeasures>): MeasureRow[] {
  return names.map((name) => {
    const raw = m?.[name] ?? null;
    const info = MEASURE_INFO[name];
    return { name, ...info, value: formatValue(raw), raw };
  });
}

/** Time series for uPlot: x in seconds since the epoch, one y array per key (null where missing). */
export interface ChartSeries {
  x: number[];
  ys: Array<Array<number | null>>;
}

/** The window an entry's measures describe (ms): `measured` when they were carried forward from an earlier window, else the record's own. */
export function measuredSpan(d: HrvRecordData): { start_ms: number; end_ms: number } {
  return d.measured ?? { start_ms: d.t_start_ms, end_ms: d.t_end_ms };
}

/** True when the entry's measures were computed on its own window, not carried forward from an earlier one. */
function measuredHere(d: HrvRecordData): boolean {
  return measuredSpan(d).end_ms === d.t_end_ms;
}

/**
 * Trend of `keys` over the windows ending in [fromMs, toMs] (x at each window's end). Entries whose measures were
 * carried forward from an earlier window (the enclave's cadence) are left out: their values are already plotted at
 * the window they describe.
 */
export function trendSeries(
  entries: readonly HrvEntry[],
  keys: ReadonlyArray<keyof HrvMeasures>,
  fromMs = -Infinity,
  toMs = Infinity,
): ChartSeries {
  const inRange = entries.filter((e) => e.data.t_end_ms >= fromMs && e.data.t_end_ms <= toMs && measuredHere(e.data));
  return {
    x: inRange.map((e) => e.data.t_end_ms / 1000),
    ys: keys.map((k) => inRange.map((e) => e.data.measures?.[k] ?? null)),
  };
}

/**
 * A trend from the API's downsampled answer (GET /patients/:id/trends), for periods with more windows than the page
 * loads: one point per bucket that has values, at the bucket's middle, the bucket's mean of each measure.
 */
export function bucketSeries(answer: TrendsAnswer, keys: readonly TrendMeasure[]): ChartSeries {
  const filled = answer.buckets.filter((b) => keys.some((k) => b[k].n > 0));
  return {
    x: filled.map((b) => (b.t_start_ms + b.t_end_ms) / 2000),
    ys: keys.map((k) => filled.map((b) => (b[k].n > 0 ? b[k].mean : null))),
  };
}

/** True when at least one value of the series is present. */
export function hasData(s: ChartSeries): boolean {
  return s.ys.some((y) => y.some((v) => v !== null));
}

/** Periods the trends and the tachogram offer. */
export const TREND_PERIODS = [
  { id: '1h', label: '1 hour', ms: 3600_000 },
  { id: '6h', label: '6 hours', ms: 6 * 3600_000 },
  { id: '24h', label: '24 hours', ms: 24 * 3600_000 },
  { id: '7d', label: '7 days', ms: 7 * 24 * 3600_000 },
  { id: '30d', label: '30 days', ms: 30 * 24 * 3600_000 },
] as const;
export type TrendPeriodId = (typeof TREND_PERIODS)[number]['id'];

/** What cleaning did, in a sentence (counts of intervals). */
export function cleaningWords(c: CleaningSummary | null): string {
  if (!c) return 'No cleaning report (too few intervals).';
  const parts: string[] = [];
  if (c.n_out_of_range) parts.push(`${c.n_out_of_range} out of range`);
  if (c.n_ectopic) parts.push(`${c.n_ectopic} next to ectopic beats`);
  if (c.n_artefact) parts.push(`${c.n_artefact} artefacts`);
  const pct = c.n_input > 0 ? ` (${((100 * c.n_excluded) / c.n_input).toFixed(1)}%)` : '';
  return (
    `${c.n_input} intervals: ${c.n_kept} kept` +
    (c.n_corrected ? `, of which ${c.n_corrected} corrected (missed or extra beats)` : '') +
    `; ${c.n_excluded} excluded${pct}${parts.length ? `: ${parts.join(', ')}` : ''}.`
  );
}

/** A short description of a window: its span and whether it is partial. */
export function windowWords(d: HrvRecordData): string {
  const min = (d.t_end_ms - d.t_start_ms) / 60_000;
  const src =
    d.source.kind === 'pipeline' ? `monitoring (gateway ${d.source.gateway})` : `file ${d.source.file_name}`;
  const m = measuredSpan(d);
  const carried = measuredHere(d)
    ? ''
    : `, measures of the ${((m.end_ms - m.start_ms) / 60_000).toFixed(1)}-min window ending ${Math.round((d.t_end_ms - m.end_ms) / 1000)} s before its end`;
  return `${min.toFixed(1)}-min window from ${src}${d.partial ? ', partial (shorter than the nominal length)' : ''}${
    d.gap > 0 ? `, ${d.gap} batch(es) missing before it` : ''
  }${carried}`;
}

/** The patient's own summary in plain language (no jargon beyond what the numbers need). */
export function plainSummary(latest: HrvEntry | null, openAlerts: number, timeText: (ms: number) => string): string[] {
  if (!latest || !latest.data.measures) return ['No heart-rhythm measurements have reached your record yet.'];
  const m = latest.data.measures;
  const span = measuredSpan(latest.data);
  const out = [`Your latest measurement covers the ${Math.round((span.end_ms - span.start_ms) / 60_000)} minutes up to ${timeText(span.end_ms)}.`];
  if (m.mean_hr_bpm !== null) out.push(`Your average heart rate was ${Math.round(m.mean_hr_bpm)} beats per minute.`);
  if (m.sdnn_ms !== null && m.rmssd_ms !== null)
    out.push(
      `Your heart-rate variability — how much the time between beats changes, which is normal and healthy — was ${Math.round(m.sdnn_ms)} ms overall (SDNN) and ${Math.round(m.rmssd_ms)} ms from beat to beat (RMSSD).`,
    );
  const c = latest.data.cleaning;
  if (c && c.n_excluded > 0)
    out.push(`${c.n_excluded} of ${c.n_input} beats looked unusual or were disturbed by movement and were left out of these numbers.`);
  out.push(
    openAlerts > 0
      ? `There ${openAlerts === 1 ? 'is 1 alert' : `are ${openAlerts} alerts`} your care team has not reviewed yet. If you feel unwell, contact your care team or emergency services.`
      : 'There are no open alerts. Your care team reviews these measurements.',
  );
  return out;
}

/** What cleaning found about an irregular rhythm (src/hrv's report), in words; '' when nothing. */
export function irregularWords(r: { af_suspected?: boolean; af_spans_s?: ReadonlyArray<readonly [number, number]>; n_af_uncorrected?: number }): string {
  if (!r.af_suspected) return '';
  const spans = r.af_spans_s?.length ?? 0;
  const total = (r.af_spans_s ?? []).reduce((s, [a, b]) => s + (b - a), 0);
  return `Irregular rhythm suspected in ${spans} stretch${spans === 1 ? '' : 'es'} (${Math.round(total)} s): ${r.n_af_uncorrected ?? 0} intervals there were left uncorrected, as ectopic-beat correction does not apply.`;
}
