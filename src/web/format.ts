/**
 * One way to write a time and a number everywhere in the dashboard. Times always carry their time zone
 * (`2026-12-02 14:05:09 GMT+1`), so a printed report or a screenshot is unambiguous.
 */

/** Parts of `ms` in `timeZone` (default: the browser's). */
function parts(ms: number, timeZone?: string): Record<string, string> {
  const f = new Intl.DateTimeFormat('en-GB', {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
    ...(timeZone ? { timeZone } : {}),
  });
  const out: Record<string, string> = {};
  for (const p of f.formatToParts(new Date(ms))) out[p.type] = p.value;
  return out;
}

/** Epoch ms → `YYYY-MM-DD HH:MM:SS TZ` (the dashboard's one date-time format); '—' for a missing time. */
export function fmtDateTime(ms: number | null | undefined, timeZone?: string): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const p = parts(ms, timeZone);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName}`;
}

/** Epoch ms → `HH:MM:SS` (for a time inside a range whose date and zone are already shown). */
export function fmtClock(ms: number, timeZone?: string): string {
  const p = parts(ms, timeZone);
  return `${p.hour}:${p.minute}:${p.second}`;
}

/** A duration in ms → `45 s`, `5 min`, `2 h 10 min`, `3 d 4 h`. */
export function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 120) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 120) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h${min % 60 ? ` ${min % 60} min` : ''}`;
  const d = Math.floor(h / 24);
  return `${d} d${h % 24 ? ` ${h % 24} h` : ''}`;
}

/** How long ago `ms` was, relative to `now` (`just now`, `5 min ago`). */
export function fmtAgo(ms: number | null | undefined, now: number): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return 'never';
  const d = now - ms;
  if (d < 10_000) return 'just now';
  return `${fmtDuration(d)} ago`;
}

/**
 * A number for display: 3 significant digits below 100, whole numbers from 100 up, no digit grouping (so the
 * text reads back as a number); '—' when missing.
 */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return '—';
    if (Math.abs(v) >= 100 || Number.isInteger(v)) return Math.round(v).toString();
    return Number(v.toPrecision(3)).toString();
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return JSON.stringify(v);
}
