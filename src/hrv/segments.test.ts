import { describe, expect, it } from 'vitest';
import { contiguousRuns, followsGap, seriesFromIntervals, successiveDifferences } from './segments.js';

describe('gap handling', () => {
  it('a removed beat splits the series and no difference is taken across it', () => {
    // beats at 800, 1600, [2400 removed], 3200, 4000
    const s = { tMs: Float64Array.of(800, 1600, 3200, 4000), rrMs: Float64Array.of(800, 800, 790, 800) };
    expect(followsGap(s, 2)).toBe(true);
    expect(contiguousRuns(s)).toEqual([
      [0, 2],
      [2, 4],
    ]);
    expect(Array.from(successiveDifferences(s))).toEqual([0, 10]);
  });

  it('a series built from intervals alone has no gap', () => {
    const s = seriesFromIntervals([800, 810, 790]);
    expect(Array.from(s.tMs)).toEqual([800, 1610, 2400]);
    expect(contiguousRuns(s)).toEqual([[0, 3]]);
    expect(Array.from(successiveDifferences(s))).toEqual([10, -20]);
  });
});
