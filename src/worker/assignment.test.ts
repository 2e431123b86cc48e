import { describe, expect, it } from 'vitest';
import { fairShare, plan } from './assignment.js';

describe('fair share of partitions', () => {
  it('splits evenly, rounding up, and counts a lone worker as one', () => {
    expect(fairShare(16, 3)).toBe(6);
    expect(fairShare(16, 4)).toBe(4);
    expect(fairShare(16, 0)).toBe(16);
    expect(() => fairShare(0, 1)).toThrow(RangeError);
  });

  it('takes partitions it does not own below its share, starting at an offset of its id, and gives one up above it', () => {
    const a = plan(8, ['worker-a', 'worker-b'], new Set([0]), 'worker-a');
    expect(a.share).toBe(4);
    expect(a.take).toHaveLength(7);
    expect(a.take).not.toContain(0);
    expect(a.give).toEqual([]);
    const b = plan(8, ['worker-a', 'worker-b'], new Set([0]), 'worker-b');
    expect(new Set(b.take)).toEqual(new Set(a.take));
    const over = plan(8, ['worker-a', 'b', 'c', 'd'], new Set([1, 2, 5]), 'worker-a');
    expect(over.take).toEqual([]);
    expect(over.give).toEqual([5]);
    expect(plan(8, ['worker-a', 'b', 'c', 'd'], new Set([1, 2, 5, 6, 7]), 'worker-a').give).toEqual([7, 6, 5]);
  });

  it('converges: workers that each take up to their share and give above it end up owning every partition once', () => {
    const owners = new Map<number, string>();
    const ids = ['w1', 'w2', 'w3'];
    for (let round = 0; round < 20; round++) {
      for (const id of ids) {
        const owned = new Set([...owners].filter(([, w]) => w === id).map(([p]) => p));
        const { share, take, give } = plan(16, ids, owned, id);
        for (const p of take) {
          if (owned.size >= share) break;
          if (!owners.has(p)) {
            owners.set(p, id);
            owned.add(p);
          }
        }
        for (const p of give) owners.delete(p);
      }
    }
    expect(owners.size).toBe(16);
    const counts = ids.map((id) => [...owners.values()].filter((w) => w === id).length);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    expect(counts.sort()).toEqual([5, 5, 6]);
  });
});
