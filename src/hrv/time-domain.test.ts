import { describe, expect, it } from 'vitest';
import { seriesFromIntervals } from './segments.js';
import { timeDomain, tinn, nnHistogram } from './time-domain.js';

describe('time domain', () => {
  it('computes the textbook values of a small series', () => {
    const s = seriesFromIntervals([800, 860, 790, 900, 810]);
    const td = timeDomain(s);
    expect(td.mean_nn_ms).toBeCloseTo(832, 9);
    // differences 60, −70, 110, −90
    expect(td.rmssd_ms).toBeCloseTo(Math.sqrt((60 ** 2 + 70 ** 2 + 110 ** 2 + 90 ** 2) / 4), 9);
    expect(td.pnn50_pct).toBe(100);
    expect(td.pnn20_pct).toBe(100);
    expect(td.mean_hr_bpm).toBeCloseTo(60000 / 832, 9);
    expect(td.hti).toBeNull(); // too few intervals for a histogram
  });

  it('a constant rhythm has zero variability and a zero-width triangle', () => {
    const td = timeDomain(seriesFromIntervals(new Array(300).fill(800)));
    expect(td.sdnn_ms).toBe(0);
    expect(td.rmssd_ms).toBe(0);
    expect(td.tinn_ms).toBe(0);
    expect(td.hti).toBe(1);
  });

  it('TINN is the base of a triangular histogram', () => {
    // Bins 0..8 forming a triangle rising to bin 4 and falling to 0 at bin 8.
    const counts = Int32Array.from([0, 5, 10, 15, 20, 15, 10, 5, 0]);
    expect(tinn(counts)).toBeCloseTo(8 * (1000 / 128), 9);
    const { counts: c, start } = nnHistogram([800, 801, 809]);
    expect(start).toBeLessThanOrEqual(800);
    expect(c.reduce((a, b) => a + b, 0)).toBe(3);
  });
});
