import { describe, expect, it } from 'vitest';
import { fmtAgo, fmtDateTime, fmtDuration, formatValue } from './format.js';

describe('one date-time format with the zone', () => {
  it('writes ISO-like date and time and the zone', () => {
    const t = Date.UTC(2026, 11, 2, 1, 23, 45);
    expect(fmtDateTime(t, 'UTC')).toBe('2026-12-02 01:23:45 UTC');
    expect(fmtDateTime(t, 'Europe/Berlin')).toMatch(/^2026-12-02 02:23:45 (CET|GMT\+1)$/);
    expect(fmtDateTime(null)).toBe('—');
  });
  it('durations and ages', () => {
    expect(fmtDuration(45_000)).toBe('45 s');
    expect(fmtDuration(5 * 60_000)).toBe('5 min');
    expect(fmtDuration(130 * 60_000)).toBe('2 h 10 min');
    expect(fmtAgo(1000, 5000)).toBe('just now');
    expect(fmtAgo(0, 600_000)).toBe('10 min ago');
    expect(fmtAgo(null, 0)).toBe('never');
  });
  it('numbers read back as numbers', () => {
    expect(formatValue(1234.567)).toBe('1235');
    expect(formatValue(52.345)).toBe('52.3');
    expect(formatValue(0.01234)).toBe('0.0123');
    expect(formatValue(null)).toBe('—');
  });
});
