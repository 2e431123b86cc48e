import { describe, expect, it } from 'vitest';
import { searchLargestStable } from './search.js';

const upTo = (limit: number) => (x: number): Promise<boolean> => Promise.resolve(x <= limit);

describe('searchLargestStable', () => {
  it('brackets by doubling, then bisects to the resolution', async () => {
    const r = await searchLargestStable(upTo(3700), { start: 100, max: 100_000, resolution: 0.05, maxProbes: 30 });
    expect(r.largest_stable).toBeLessThanOrEqual(3700);
    expect(r.first_unstable).toBeGreaterThan(3700);
    expect(r.first_unstable! - r.largest_stable!).toBeLessThanOrEqual(Math.max(1, 0.05 * r.largest_stable!));
    expect(r.probes.map((p) => p.x).slice(0, 7)).toEqual([100, 200, 400, 800, 1600, 3200, 6400]);
  });

  it('halves when the start is already unstable', async () => {
    const r = await searchLargestStable(upTo(30), { start: 100, max: 1000, resolution: 0, maxProbes: 30 });
    expect(r).toMatchObject({ largest_stable: 30, first_unstable: 31 });
  });

  it('reports no stable value, and no unstable one within max', async () => {
    expect(await searchLargestStable(upTo(0), { start: 8, max: 100, maxProbes: 30 })).toMatchObject({ largest_stable: null, first_unstable: 1 });
    expect(await searchLargestStable(upTo(1e9), { start: 8, max: 100, maxProbes: 30 })).toMatchObject({ largest_stable: 100, first_unstable: null });
  });

  it('bisects above a value already known stable without probing it again', async () => {
    const r = await searchLargestStable(upTo(1500), { start: 2000, knownStable: 1000, max: 1e6, resolution: 0.1, maxProbes: 30 });
    expect(r.probes[0]).toEqual({ x: 2000, stable: false });
    expect(r.probes.some((p) => p.x === 1000)).toBe(false);
    expect(r.largest_stable).toBeLessThanOrEqual(1500);
    expect(r.largest_stable).toBeGreaterThan(1350);
  });

  it('bisects between a sweep\'s stable and unstable points without probing either again', async () => {
    const r = await searchLargestStable(upTo(13_000), { start: 20_000, knownStable: 10_000, knownUnstable: 20_000, max: 200_000, resolution: 0.1, maxProbes: 30 });
    expect(r.probes.map((p) => p.x)).toEqual([15_000, 12_500, 13_750]);
    expect(r).toMatchObject({ largest_stable: 12_500, first_unstable: 13_750 });
  });

  it('stops after maxProbes', async () => {
    const r = await searchLargestStable(upTo(123_456), { start: 1, max: 1e9, resolution: 0, maxProbes: 5 });
    expect(r.probes).toHaveLength(5);
    expect(r.largest_stable).toBe(16);
  });
});
