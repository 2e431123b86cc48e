import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runningMedian } from './rr-clean-median.js';

function naiveMedian(xs: number[], i: number, half: number): number {
  const w = xs.slice(Math.max(0, i - half), Math.min(xs.length, i + half + 1)).sort((a, b) => a - b);
  const m = w.length >> 1;
  return w.length % 2 === 1 ? w[m]! : (w[m - 1]! + w[m]!) / 2;
}

describe('runningMedian', () => {
  it('equals the median of the centred, truncated window at every index', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 300, max: 1500 }), { maxLength: 120 }),
        fc.integer({ min: 0, max: 30 }),
        (xs, half) => {
          const got = runningMedian(Float64Array.from(xs), half);
          expect(got.length).toBe(xs.length);
          for (let i = 0; i < xs.length; i++) expect(got[i]).toBe(naiveMedian(xs, i, half));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('ignores a minority of outliers in the window', () => {
    const xs = Float64Array.from({ length: 41 }, (_, i) => (i % 5 === 0 ? 3000 : 800));
    expect(runningMedian(xs, 10)[20]).toBe(800);
  });
});
