import { describe, expect, it } from 'vitest';
import { backlogGrows, isStable, mean, percentile, round, slope } from './stats.js';

describe('bench statistics', () => {
  it('percentiles interpolate between ranks and ignore input order', () => {
    const xs = [5, 1, 4, 2, 3];
    expect(percentile(xs, 50)).toBe(3);
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile(xs, 100)).toBe(5);
    expect(percentile(xs, 99)).toBeCloseTo(4.96, 10);
    expect(percentile([], 50)).toBeNaN();
    expect(xs).toEqual([5, 1, 4, 2, 3]);
  });

  it('mean and slope', () => {
    expect(mean([1, 2, 3, 6])).toBe(3);
    expect(slope([0, 2, 4, 6])).toBeCloseTo(2, 10);
    expect(slope([7])).toBe(0);
  });

  it('a backlog that keeps pace is not growing; one that climbs is', () => {
    expect(backlogGrows([3, 5, 2, 4, 3], 1000)).toBe(false);
    expect(backlogGrows([0, 400, 800, 1200], 1000)).toBe(true);
    expect(backlogGrows([0, 1, 2, 3], 10)).toBe(false);
  });

  it('stable: mean below the interval and no growing backlog', () => {
    expect(isStable(900, 1000, false)).toBe(true);
    expect(isStable(1000, 1000, false)).toBe(false);
    expect(isStable(10, 1000, true)).toBe(false);
    expect(isStable(NaN, 1000, false)).toBe(false);
    expect(round(NaN)).toBeNull();
    expect(round(1.26, 1)).toBe(1.3);
  });
});
