import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { matchBeats, median, scoreLabel } from './beat-matching.js';

describe('matchBeats', () => {
  it('counts hits, misses and false detections within the tolerance', () => {
    const m = matchBeats([100, 200, 300, 400], [103, 190, 330, 500], 10);
    expect(m.tp).toBe(2);
    expect(m.fn).toBe(2);
    expect(m.fp).toBe(2);
    expect(m.sensitivity).toBe(0.5);
    expect(m.ppv).toBe(0.5);
    expect(Array.from(m.offsets)).toEqual([3, -10]);
    expect(Array.from(m.refToDet)).toEqual([0, 1, -1, -1]);
    expect(Array.from(m.detToRef)).toEqual([0, 1, -1, -1]);
  });

  it('matches one-to-one, nearest pair first', () => {
    // Detection 105 lies within tolerance of both reference beats; the nearer one (108) gets it.
    const m = matchBeats([100, 108], [105], 10);
    expect(m.tp).toBe(1);
    expect(m.refToDet[1]).toBe(0);
    const two = matchBeats([100], [98, 101], 10);
    expect(two.tp).toBe(1);
    expect(two.fp).toBe(1);
    expect(two.offsets[0]).toBe(1);
  });

  it('never matches more pairs than either list and is symmetric in its counts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000 }), { maxLength: 60 }),
        fc.array(fc.integer({ min: 0, max: 10_000 }), { maxLength: 60 }),
        fc.integer({ min: 0, max: 200 }),
        (a, b, tol) => {
          const ref = a.sort((x, y) => x - y);
          const det = b.sort((x, y) => x - y);
          const m = matchBeats(ref, det, tol);
          const r = matchBeats(det, ref, tol);
          expect(m.tp).toBe(r.tp);
          expect(m.tp).toBeLessThanOrEqual(Math.min(ref.length, det.length));
          for (const o of m.offsets) expect(Math.abs(o)).toBeLessThanOrEqual(tol);
          expect(m.tp + m.fn).toBe(ref.length);
          expect(m.tp + m.fp).toBe(det.length);
        },
      ),
    );
  });

  it('rejects unsorted input and bad tolerances', () => {
    expect(() => matchBeats([2, 1], [1], 1)).toThrow(/sorted/);
    expect(() => matchBeats([1], [1], -1)).toThrow(/tolerance/);
    expect(() => matchBeats([NaN], [1], 1)).toThrow(/finite/);
  });
});

describe('scoreLabel and median', () => {
  it('scores one label on matched pairs only', () => {
    const m = matchBeats([100, 200, 300, 400], [100, 200, 300, 700], 5);
    const s = scoreLabel(m, ['N', 'V', 'V', 'V'], ['V', 'V', 'N', 'V'], 'V');
    expect(s).toMatchObject({ tp: 1, fn: 1, fp: 1, sensitivity: 0.5, ppv: 0.5 });
  });

  it('takes the median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});
