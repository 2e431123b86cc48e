import { describe, expect, it } from 'vitest';
import { nnFromLabelledBeats } from './annotations.js';
import type { BeatLabel } from './types.js';

describe('nnFromLabelledBeats', () => {
  it('keeps only N–N intervals and counts the beats of each label', () => {
    const t = [0, 0.8, 1.6, 2.1, 3.2, 4.0, 4.8, 5.6, 6.4];
    const labels: BeatLabel[] = ['N', 'N', 'N', 'V', 'N', 'Q', 'N', 'S', 'N'];
    const { series, counts } = nnFromLabelledBeats(t, labels);
    // N–N pairs: (0, 0.8), (0.8, 1.6) only; every other interval touches V, Q or S.
    expect(Array.from(series.rrMs)).toEqual([800, 800]);
    expect(Array.from(series.tMs)).toEqual([800, 1600]);
    expect(counts).toEqual({ N: 6, S: 1, V: 1, Q: 1 });
  });
});
