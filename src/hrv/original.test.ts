import { describe, expect, it } from 'vitest';
import { HrvError } from './errors.js';
import { blockLfHf, originalBlockMeasures } from './original.js';
import { seriesFromIntervals } from './segments.js';

describe('the original system’s 10-second block measures', () => {
  it('LF/HF of a block: DFT bins of the RR values at the mean interval (known answer 4)', () => {
    // 12 beats at a mean of 800 ms: bin k lies at k·1.25/12 Hz, so bin 1 (0.104 Hz) is LF and bin 2
    // (0.208 Hz) HF; amplitudes 30 and 15 ms give a power ratio of exactly 4.
    const rr = Array.from(
      { length: 12 },
      (_, j) => 800 + 30 * Math.cos((2 * Math.PI * j) / 12) + 15 * Math.cos((4 * Math.PI * j) / 12),
    );
    expect(blockLfHf(rr)).toBeCloseTo(4, 9);
    // Only HF content: ratio 0; only LF content: no HF to divide by, so null rather than infinity.
    const hfOnly = Array.from({ length: 12 }, (_, j) => 800 + 15 * Math.cos((4 * Math.PI * j) / 12));
    expect(blockLfHf(hfOnly)).toBeCloseTo(0, 12);
    const lfOnly = Array.from({ length: 12 }, (_, j) => 800 + 30 * Math.cos((2 * Math.PI * j) / 12));
    expect(blockLfHf(lfOnly)).toBeNull();
    expect(blockLfHf([800, 810, 790])).toBeNull();
  });

  it('blocks [k·10, (k+1)·10) s hold the intervals whose two beats lie inside; SDNN per block (n − 1)', () => {
    // One beat per second for 60 s: an interval ending on a block boundary starts in the previous block,
    // so each block keeps 9 intervals.
    const steady = originalBlockMeasures(seriesFromIntervals(new Array<number>(60).fill(1000)));
    expect(steady.map((b) => [b.start_s, b.end_s, b.n])).toEqual([
      [0, 10, 9],
      [10, 20, 9],
      [20, 30, 9],
      [30, 40, 9],
      [40, 50, 9],
      [50, 60, 9],
      [60, 70, 0],
    ]);
    expect(steady[0]!.sdnn_ms).toBe(0);
    expect(steady[0]!.lf_hf).toBeNull();
    expect(steady.every((b) => b.clinical === false)).toBe(true);
    expect(steady[6]!.sdnn_ms).toBeNull();

    // Alternating 900/1100 ms: beats at 0.9, 2.0, 2.9, … 8.9, 10.0 s, so the first block keeps 9 intervals.
    const alt = originalBlockMeasures(
      seriesFromIntervals(Array.from({ length: 30 }, (_, i) => (i % 2 ? 1100 : 900))),
    );
    const first = alt[0]!;
    const values = [900, 1100, 900, 1100, 900, 1100, 900, 1100, 900];
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1));
    expect(first.n).toBe(9);
    expect(first.sdnn_ms).toBeCloseTo(sd, 9);
  });

  it('rejects a block length that is not a positive number', () => {
    const s = seriesFromIntervals([800, 800, 800]);
    expect(() => originalBlockMeasures(s, 0)).toThrow(HrvError);
    expect(() => originalBlockMeasures(s, Number.NaN)).toThrow(/block length/);
  });
});
