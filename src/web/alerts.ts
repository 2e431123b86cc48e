/**
 * Alerts in words. The enclave raises an alert once at onset (`data.alerts` of the HRV record whose batch
 * contained it) and lists it in `data.active_alerts` while it lasts; a clinician's acknowledgement is an
 * `alert_ack` record naming the HRV record, the alert type and the onset. Rules: docs/pipeline-security.md.
 */
import { alertAckDataSchema, type AlertOnset, type AlertType } from '../contracts/index.js';
import { fmtDateTime, formatValue } from './format.js';
import type { HrvEntry } from './hrv-model.js';
import { authorName, type ApiRecord } from './model.js';

/** The rule behind each alert type, in the words a clinician uses. */
export const ALERT_RULE_WORDS: Record<AlertType, string> = {
  tachycardia: 'heart rate above 120 bpm for 60 s',
  bradycardia: 'heart rate below 40 bpm for 60 s',
  irregular_rhythm: 'irregular rhythm over 120 s (possible atrial fibrillation)',
};

export const ALERT_TITLE: Record<AlertType, string> = {
  tachycardia: 'Tachycardia',
  bradycardia: 'Bradycardia',
  irregular_rhythm: 'Irregular rhythm',
};

/** One alert onset in words: "Tachycardia: heart rate above 120 bpm for 60 s (136 bpm)". */
export function alertWords(a: Pick<AlertOnset, 'type' | 'value'>): string {
  const value =
    a.type === 'irregular_rhythm'
      ? `irregularity ${formatValue(a.value)}`
      : `${formatValue(a.value)} bpm over the last 60 s`;
  return `${ALERT_TITLE[a.type]}: ${ALERT_RULE_WORDS[a.type]} (${value})`;
}

/** An alert onset with the HRV record it came with and its acknowledgement, if any. */
export interface AlertItem {
  key: string;
  hrvRecordId: string;
  type: AlertType;
  onsetMs: number;
  value: number;
  words: string;
  /** Still active in the newest window. */
  active: boolean;
  ack: { by: string; atMs: number; comment?: string } | null;
}

/** The key an acknowledgement and its alert share. */
export const alertKey = (hrvRecordId: string, type: AlertType, onsetMs: number) =>
  `${hrvRecordId}|${type}|${onsetMs}`;

/** Alert onsets of the HRV entries, newest first, joined with their acknowledgements. */
export function alertHistory(
  entries: readonly HrvEntry[],
  acks: readonly ApiRecord[],
  names?: ReadonlyMap<string, string>,
): AlertItem[] {
  const ackBy = new Map<string, AlertItem['ack']>();
  for (const r of acks) {
    if (r.type !== 'alert_ack') continue;
    const p = alertAckDataSchema.safeParse(r.data);
    if (!p.success) continue;
    const k = alertKey(p.data.hrv_record, p.data.alert_type, p.data.onset_ms);
    if (!ackBy.has(k))
      ackBy.set(k, {
        by: authorName(r, names),
        atMs: r.created_ms,
        ...(p.data.comment ? { comment: p.data.comment } : {}),
      });
  }
  const newest = entries.at(-1);
  const active = new Set<AlertType>(newest?.data.active_alerts ?? []);
  const out: AlertItem[] = [];
  // Only the latest onset of each type can still be active.
  const latestOnset = new Map<AlertType, number>();
  for (const e of entries)
    for (const a of e.data.alerts)
      latestOnset.set(a.type, Math.max(latestOnset.get(a.type) ?? -Infinity, a.onset_ms));
  for (const e of entries)
    for (const a of e.data.alerts) {
      const key = alertKey(e.record.id, a.type, a.onset_ms);
      out.push({
        key,
        hrvRecordId: e.record.id,
        type: a.type,
        onsetMs: a.onset_ms,
        value: a.value,
        words: alertWords(a),
        active: active.has(a.type) && latestOnset.get(a.type) === a.onset_ms,
        ack: ackBy.get(key) ?? null,
      });
    }
  out.sort((a, b) => b.onsetMs - a.onsetMs);
  return out;
}

/** Alerts that still need a clinician: not yet acknowledged. */
export function openAlerts(items: readonly AlertItem[]): AlertItem[] {
  return items.filter((a) => a.ack === null);
}

/** One line for the alert list: "2026-12-02 01:20:00 UTC — Tachycardia: …". */
export function alertLine(a: AlertItem): string {
  return `${fmtDateTime(a.onsetMs)} — ${a.words}`;
}
