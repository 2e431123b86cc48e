import { describe, expect, it } from 'vitest';
import { analyzeWindows } from './windows.js';
import { originalBlockMeasures, blockLfHf } from './original.js';
import { seriesFromIntervals } from './segments.js';
import { timeDomain } from './time-domain.js';

const sine = (n: number, f: number, a = 50) => {
  const rr: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    const v = 800 + a * Math.sin(2 * Math.PI * f * (t / 1000));
    rr.push(v);
    t += v;
  }
  return seriesFromIntervals(rr);
};

describe('windows', () => {
  it('aligns windows at time 0 and keeps only intervals with both beats inside', () => {
    const s = seriesFromIntervals(new Array(1000).fill(600)); // beats every 0.6 s from 0.6 s to 600 s
    const w = analyzeWindows(s, { windowS: 60, stepS: 30 });
    expect(w[0]).toMatchObject({ start_s: 0, end_s: 60 });
    expect(w[1]).toMatchObject({ start_s: 30, end_s: 90 });
    // [0, 60): beats at 0.6…59.4 → intervals ending 1.2…59.4 (the first starts at 0) → 99 intervals.
    expect(w[0]!.n_nn).toBe(99);
    expect(w.at(-1)!.start_s).toBeLessThan(600);
    expect(w[0]!.sdnn_ms).toBe(0);
  });

  it('window 0 is the whole input; measures too short for the data are null', () => {
    const s = sine(20, 0.25);
    const [whole] = analyzeWindows(s, { windowS: 0 });
    expect(whole!.n_nn).toBe(20);
    expect(whole!.vlf_ms2).toBeNull();
    expect(whole!.lf_ms2).toBeNull(); // 16 s of data hold less than one period of LF's lowest frequency (25 s)
    expect(whole!.hf_ms2).toBeNull(); // and less than the ~1 min HF needs (docs/frequency-domain.md)
    expect(whole!.dfa_alpha2).toBeNull();
    expect(whole!.sdnn_ms).toBeCloseTo(timeDomain(s).sdnn_ms!, 12);
  });

  it('rejects a negative window and a zero step', () => {
    const s = sine(100, 0.1);
    expect(() => analyzeWindows(s, { windowS: -1 })).toThrow(/window length/);
    expect(() => analyzeWindows(s, { windowS: 60, stepS: 0 })).toThrow(/step/);
  });
});

describe("the original system's 10-second measures", () => {
  it('SDNN per block equals the SDNN of the intervals inside the block; LF/HF finds an HF oscillation', () => {
    const s = sine(300, 0.3);
    const blocks = originalBlockMeasures(s, 10);
    expect(blocks[0]).toMatchObject({ start_s: 0, end_s: 10, clinical: false });
    const inside = Array.from(s.rrMs).filter((_, i) => s.tMs[i]! - s.rrMs[i]! >= 10_000 && s.tMs[i]! < 20_000);
    expect(blocks[1]!.sdnn_ms).toBeCloseTo(timeDomain(seriesFromIntervals(inside)).sdnn_ms!, 9);
    expect(blocks[1]!.n).toBe(inside.length);
    expect(blockLfHf(Array.from({ length: 24 }, (_, j) => 800 + 50 * Math.sin(2 * Math.PI * 0.3 * j * 0.8)))!).toBeLessThan(0.2);
    expect(blockLfHf(Array.from({ length: 24 }, (_, j) => 800 + 50 * Math.sin(2 * Math.PI * 0.1 * j * 0.8)))!).toBeGreaterThan(5);
  });
});
