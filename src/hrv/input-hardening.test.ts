/**
 * Parsers never pass garbage: decimal commas, overflowing or absurd values, index columns and sampling
 * rates that contradict the time column are either read correctly or refused naming the line.
 */
import { describe, expect, it } from 'vitest';
import { parseRrText } from './rr-text.js';
import { parseSignalText } from './signal-text.js';
import { inputError } from './test-input-error.js';


/** n beats of a slow sine around meanMs, as [time_s, rr_s] with 3 decimals. */
function beatsS(n: number, meanMs = 800): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    const rr = Math.round(meanMs + 40 * Math.sin(i / 3));
    t += rr;
    out.push([t / 1000, rr / 1000]);
  }
  return out;
}

describe('decimal commas', () => {
  it('reads semicolon-separated time;RR in seconds with decimal commas (not the fractional digits as intervals)', () => {
    const b = beatsS(20);
    const text = 'time_s;rr_s\n' + b.map(([t, r]) => `${t.toFixed(3).replace('.', ',')};${r.toFixed(3).replace('.', ',')}`).join('\n');
    const s = parseRrText(text, 'dc.csv');
    expect(s.rrMs.length).toBe(20);
    b.forEach(([t, r], i) => {
      expect(s.rrMs[i]).toBeCloseTo(r * 1000, 6);
      expect(s.tMs[i]).toBeCloseTo(t * 1000, 6);
    });
  });

  it('reads a one-column RR file in seconds with decimal commas when the header names one column', () => {
    const b = beatsS(10);
    const s = parseRrText('RR (s)\n' + b.map(([, r]) => r.toFixed(3).replace('.', ',')).join('\n'), 'dc1.txt');
    expect(Array.from(s.rrMs).map(Math.round)).toEqual(b.map(([, r]) => Math.round(r * 1000)));
  });

  it('reads whitespace-separated columns with decimal commas', () => {
    const s = parseRrText('Time (s)  RR (s)\n0,800  0,800\n1,610  0,810\n', 'dc2.txt');
    expect(Array.from(s.rrMs).map(Math.round)).toEqual([800, 810]);
    expect(Array.from(s.tMs).map(Math.round)).toEqual([800, 1610]);
  });

  it('refuses a comma-separated file whose rows hold twice the header columns (ambiguous decimal commas), naming the line', () => {
    const e = inputError(() => parseRrText('time_s,rr_s\n0,800,0,800\n1,610,0,810\n', 'amb.csv'));
    expect(e.line).toBe(2);
    expect(e.problem).toMatch(/decimal comma/);
  });

  it('refuses a headerless one-column file of decimal-comma seconds instead of reading integer times and fractional intervals', () => {
    const text = beatsS(10).map(([, r]) => r.toFixed(3).replace('.', ',')).join('\n');
    const e = inputError(() => parseRrText(text, 'amb1.txt'));
    expect(e.line).toBeGreaterThan(1);
    expect(e.problem).toMatch(/decimal comma/);
  });
});

describe('values that overflow or are absurd for their column', () => {
  it('refuses an interval that overflows to Infinity, naming the line', () => {
    const e = inputError(() => parseRrText('800\n810\n1e309\n790\n', 'inf.txt'));
    expect(e.line).toBe(3);
    expect(e.problem).toMatch(/finite/);
  });
  it('refuses an interval of 1e12 ms (absurd), naming the line', () => {
    const e = inputError(() => parseRrText('800\n810\n790\n1e12\n', 'big.txt'));
    expect(e.line).toBe(4);
    expect(e.problem).toMatch(/longer than/);
  });
  it('refuses an overflowing beat time, naming the line', () => {
    const e = inputError(() => parseRrText('time_ms,rr_ms\n800,800\n1e400,800\n', 'tinf.csv'));
    expect(e.line).toBe(3);
    expect(e.problem).toMatch(/finite/);
  });
  it('refuses a signal sample of 1e200 and one that overflows, naming the line', () => {
    const e = inputError(() => parseSignalText('t_s,mV\n0,0.1\n0.01,1e200\n0.02,0.1\n', 'sig.csv'));
    expect(e.line).toBe(3);
    expect(e.problem).toMatch(/absurd|beyond/);
    const e2 = inputError(() => parseSignalText('0.1\n1e999\n', 'sig2.csv'));
    expect(e2.line).toBe(2);
    expect(e2.problem).toMatch(/finite/);
  });
});

describe('a headerless index column', () => {
  it('takes consecutive integers in the first column as a beat index, not as times (no gaps, RMSSD defined)', () => {
    const b = beatsS(30);
    const text = b.map(([, r], i) => `${i + 1},${Math.round(r * 1000)}`).join('\n');
    const s = parseRrText(text, 'idx.csv');
    expect(Array.from(s.rrMs)).toEqual(b.map(([, r]) => Math.round(r * 1000)));
    // Cumulative times: every interval starts at the previous beat.
    for (let i = 1; i < s.rrMs.length; i++) expect(s.tMs[i]! - s.rrMs[i]!).toBeCloseTo(s.tMs[i - 1]!, 6);
  });
});

describe('a sampling rate that contradicts the time column', () => {
  it('refuses "# sampling_rate_hz" that disagrees with the t_s column, naming the comment line', () => {
    const rows = Array.from({ length: 50 }, (_, i) => `${(i / 250).toFixed(4)},${Math.sin(i)}`);
    const e = inputError(() => parseSignalText('# sampling_rate_hz: 360\nt_s,mV\n' + rows.join('\n'), 'fs.csv'));
    expect(e.line).toBe(1);
    expect(e.problem).toMatch(/contradicts/);
  });
  it('accepts a stated rate that agrees with the time column', () => {
    const rows = Array.from({ length: 50 }, (_, i) => `${(i / 360).toFixed(6)},${Math.sin(i)}`);
    const s = parseSignalText('# sampling_rate_hz: 360\nt_s,mV\n' + rows.join('\n'), 'fs.csv');
    expect(s.fsHz).toBe(360);
    expect(s.fsFromTimeHz).toBeCloseTo(360, 0);
  });
});

describe('found by the input fuzz test', () => {
  it('a one-name header over two-column rows (1e309x / 0,200;0,200) is read without crashing on the missing name', () => {
    const s = parseRrText('1e309x\n0,200;0,200\n0,400;0,200\n', 'fz.csv');
    expect(Array.from(s.rrMs).map(Math.round)).toEqual([200, 200]);
  });
});

describe('decimal commas in signal files', () => {
  const rows = Array.from({ length: 20 }, (_, i) => [i / 360, Math.sin(i / 3)] as const);
  it('reads t_s;mV with decimal commas as numbers, not their fractional digits as the signal', () => {
    const text = 't_s;mV\n' + rows.map(([t, v]) => `${t.toFixed(6).replace('.', ',')};${v.toFixed(4).replace('.', ',')}`).join('\n');
    const s = parseSignalText(text, 'ecg.csv');
    expect(s.values.length).toBe(20);
    rows.forEach(([t, v], i) => {
      expect(s.values[i]).toBeCloseTo(v, 4);
      expect(s.tS![i]).toBeCloseTo(t, 6);
    });
    expect(s.fsHz).toBeCloseTo(360, 0);
  });
  it('refuses comma-separated rows with twice the header columns, naming the line and decimal commas', () => {
    const text = 't_s,mV\n' + rows.map(([t, v]) => `${t.toFixed(6).replace('.', ',')},${v.toFixed(4).replace('.', ',')}`).join('\n');
    const e = inputError(() => parseSignalText(text, 'ecg2.csv'));
    expect(e.line).toBe(2);
    expect(e.problem).toMatch(/decimal comma/);
  });
});

describe('a headerless one-column signal with decimal commas', () => {
  it('is refused naming the line instead of taking the fractional digits as the signal', () => {
    const text = Array.from({ length: 30 }, (_, i) => Math.sin(i / 4).toFixed(3).replace('.', ',')).join('\n');
    const e = inputError(() => parseSignalText(text, 'one.csv'));
    expect(e.line).toBeGreaterThan(1);
    expect(e.problem).toMatch(/decimal comma/);
  });
  it('still reads a headerless index,value file', () => {
    const s = parseSignalText(Array.from({ length: 10 }, (_, i) => `${i},${i * 2}`).join('\n'), 'iv.csv');
    expect(Array.from(s.values)).toEqual(Array.from({ length: 10 }, (_, i) => i * 2));
  });
});
