import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatRrCsv, parseRrText } from './rr-text.js';
import { parseSignalText } from './signal-text.js';
import { inputError } from './test-input-error.js';


describe('parseRrText', () => {
  it('reads the gateway batch format with header, comments and CRLF', () => {
    const s = parseRrText('# patient p1\r\ntime_ms,rr_ms\r\n1000,800\r\n1810,810\r\n\r\n2600,790\r\n', 'a.csv');
    expect(Array.from(s.tMs)).toEqual([1000, 1810, 2600]);
    expect(Array.from(s.rrMs)).toEqual([800, 810, 790]);
  });

  it('keeps gaps: an interval whose start is not the previous beat', () => {
    const s = parseRrText('1000,800\n3400,800\n', 'gap.csv');
    expect(Array.from(s.tMs)).toEqual([1000, 3400]);
  });

  it('reads one column of ms with cumulative beat times', () => {
    const s = parseRrText('rr_ms\n800\n820\n780\n', 'one.csv');
    expect(Array.from(s.tMs)).toEqual([800, 1620, 2400]);
    expect(Array.from(s.rrMs)).toEqual([800, 820, 780]);
  });

  it('reads a Polar H10 text export (one value per line, no header)', () => {
    const s = parseRrText('1043\n1051\n987\n', 'polar.txt');
    expect(Array.from(s.rrMs)).toEqual([1043, 1051, 987]);
  });

  it('reads Polar Sensor Logger exports, ignoring the timestamp column', () => {
    const text = 'Phone timestamp;RR-interval [ms]\n2024-01-01T10:00:00.000;812\n2024-01-01T10:00:00.812;798\n';
    const s = parseRrText(text, 'logger.txt');
    expect(Array.from(s.rrMs)).toEqual([812, 798]);
    expect(Array.from(s.tMs)).toEqual([812, 1610]);
  });

  it('reads Kubios text exports in seconds, with preamble lines and a two-column time/RR layout', () => {
    const one = parseRrText('Kubios HRV RR data\nRR (s)\n0.812\n0.798\n', 'k1.txt');
    expect(Array.from(one.rrMs)).toEqual([812, 798]);
    const unlabelled = parseRrText('0.8\n0.9\n0.85\n', 'k2.txt');
    expect(Array.from(unlabelled.rrMs).map(Math.round)).toEqual([800, 900, 850]);
    const spaced = parseRrText('Time (s)   RR (s)\n  1.000   0.800\n  1.810   0.810\n', 'k4.txt');
    expect(Array.from(spaced.tMs).map(Math.round)).toEqual([1000, 1810]);
    expect(Array.from(spaced.rrMs).map(Math.round)).toEqual([800, 810]);
    const two = parseRrText('1.000\t0.800\n1.810\t0.810\n2.600\t0.790\n', 'k3.txt');
    expect(Array.from(two.tMs).map(Math.round)).toEqual([1000, 1810, 2600]);
    expect(Array.from(two.rrMs).map(Math.round)).toEqual([800, 810, 790]);
  });

  it('names the line of a non-numeric field, a zero or negative interval and a backwards time', () => {
    let e = inputError(() => parseRrText('time_ms,rr_ms\n1000,800\n1800,8o0\n', 'f.csv'));
    expect(e.message).toBe('f.csv:3: RR interval "8o0" is not a number');
    e = inputError(() => parseRrText('800\n\n0\n', 'f.csv'));
    expect(e.line).toBe(3);
    expect(e.problem).toMatch(/must be > 0/);
    e = inputError(() => parseRrText('800\n-5\n', 'f.csv'));
    expect(e.message).toBe('f.csv:2: RR interval must be > 0, got -5');
    e = inputError(() => parseRrText('1000,800\n1800,800\n1700,800\n', 'f.csv'));
    expect(e.line).toBe(3);
    expect(e.problem).toMatch(/goes backwards/);
    e = inputError(() => parseRrText('1000,800\n1500,800\n', 'f.csv'));
    expect(e.line).toBe(2);
    expect(e.problem).toMatch(/starts before the previous beat/);
    e = inputError(() => parseRrText('1000,800\n1800\n', 'f.csv'));
    expect(e.problem).toBe('expected 2 fields, found 1');
  });

  it('rejects a table whose header names no RR column (e.g. an ECG or annotation file)', () => {
    const e = inputError(() => parseRrText('# x\nt_s,mV\n0,0.1\n', 'ecg.csv'));
    expect(e.message).toBe('ecg.csv:2: header does not name an RR interval column (t_s, mV)');
  });

  it('rejects an empty file and a file of comments only', () => {
    expect(inputError(() => parseRrText('', 'e.csv')).message).toBe('e.csv: no RR intervals (empty file)');
    expect(inputError(() => parseRrText('# nothing\ntime_ms,rr_ms\n', 'e.csv')).problem).toMatch(/empty/);
  });

  it('round-trips the gateway format (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 250, max: 2000 }), { minLength: 1, maxLength: 50 }), (rr) => {
        let t = 0;
        const tMs = Float64Array.from(rr, (r) => (t += r));
        const back = parseRrText(formatRrCsv({ tMs, rrMs: Float64Array.from(rr) }), 'x');
        expect(Array.from(back.tMs)).toEqual(Array.from(tMs));
        expect(Array.from(back.rrMs)).toEqual(rr);
      }),
    );
  });
});

describe('parseSignalText', () => {
  it('takes the rate from a comment and the last column as signal', () => {
    const p = parseSignalText('# sampling_rate_hz: 360\nt_s,mV\n0,0.1\n0.0027778,0.2\n', 'ecg.csv');
    expect(p.fsHz).toBe(360);
    expect(Array.from(p.values)).toEqual([0.1, 0.2]);
    expect(p.tS?.length).toBe(2);
  });

  it('estimates the rate of irregular frames from the median step and picks a named column', () => {
    const p = parseSignalText('t_s,R,G,B\n0,1,2,3\n0.033,1,2,3\n0.070,1,2,3\n0.100,4,5,6\n', 'ppg.csv', { column: 'G' });
    expect(Array.from(p.values)).toEqual([2, 2, 2, 5]);
    expect(p.fsHz).toBeCloseTo(1 / 0.033, 6);
  });

  it('names the line of a bad sample and rejects backwards time', () => {
    expect(inputError(() => parseSignalText('t_s,v\n0,1\n0.1,x\n', 's.csv')).message).toBe('s.csv:3: signal value "x" is not a number');
    expect(inputError(() => parseSignalText('t_s,v\n0,1\n0.1,1\n0.05,1\n', 's.csv')).line).toBe(4);
    expect(inputError(() => parseSignalText('# only\n', 's.csv')).problem).toMatch(/empty/);
  });
});

describe('files without one interval name the line that shows why', () => {
  it('binary data and text without numbers are refused with a line number', () => {
    const bytes = new Uint8Array(600).map((_, i) => (i * 131 + 7) % 256);
    expect(() => parseRrText(new TextDecoder().decode(bytes), 'garbage.csv')).toThrow(/^garbage\.csv:\d+: not a text file \(binary data\)/);
    expect(() => parseRrText('Dear doctor,\nplease find attached\nmy readings\n', 'letter.txt')).toThrow(/^letter\.txt:1: no line holds a number/);
    expect(() => parseRrText('# only a comment\n\n', 'empty.csv')).toThrow(/^empty\.csv: no RR intervals \(empty file\)/);
  });
});
