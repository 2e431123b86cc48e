import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { StreamingHrvWindow } from './streaming.js';
import { timeDomain } from './time-domain.js';
import { nonlinear } from './nonlinear.js';
import { frequencyDomain } from './frequency.js';
import type { RrSeries } from './types.js';

/** Random beat trains: intervals 300–1500 ms, some beats removed (gaps). */
const trains = fc
  .array(fc.record({ rr: fc.double({ min: 300, max: 1500, noNaN: true }), drop: fc.integer({ min: 0, max: 11 }).map((v) => v === 0) }), { minLength: 2, maxLength: 400 })
  .map((xs) => {
    const t: number[] = [];
    const rr: number[] = [];
    let now = 0;
    for (const x of xs) {
      now += x.rr;
      if (x.drop) continue;
      t.push(now);
      rr.push(x.rr);
    }
    return { tMs: Float64Array.from(t), rrMs: Float64Array.from(rr) } satisfies RrSeries;
  });

function close(a: number | null, b: number | null): boolean {
  if (a === null || b === null) return a === b;
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
}

describe('streaming window', () => {
  it('gives a trailing span of its contents, and its bounds, as the whole series cut at that time', () => {
    fc.assert(
      fc.property(trains, fc.double({ min: 0, max: 1, noNaN: true }), (s, cut) => {
        const w = new StreamingHrvWindow();
        for (let i = 0; i < s.rrMs.length; i++) w.append(s.tMs[i]!, s.rrMs[i]!);
        w.evictBefore(s.tMs[Math.floor(s.tMs.length / 3)]! - 1);
        const all = w.series();
        if (all.tMs.length === 0) {
          expect(w.bounds()).toBeNull();
          return;
        }
        const after = all.tMs[0]! - 1 + cut * (all.tMs.at(-1)! - all.tMs[0]! + 2);
        const keep = Array.from(all.tMs.keys()).filter((i) => all.tMs[i]! > after);
        expect(w.series(after)).toEqual({ tMs: Float64Array.from(keep, (i) => all.tMs[i]!), rrMs: Float64Array.from(keep, (i) => all.rrMs[i]!) });
        expect(w.bounds()).toEqual({ startMs: all.tMs[0]! - all.rrMs[0]!, endMs: all.tMs.at(-1)! });
      }),
    );
    expect(new StreamingHrvWindow().bounds()).toBeNull();
    expect(new StreamingHrvWindow().series(0).tMs.length).toBe(0);
  });

  it('gives the batch time-domain measures after any sequence of appends and evictions', () => {
    fc.assert(
      fc.property(trains, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 }), (s, cuts) => {
        const w = new StreamingHrvWindow();
        let evicted = 0;
        for (let i = 0; i < s.rrMs.length; i++) {
          w.append(s.tMs[i]!, s.rrMs[i]!);
          const cut = cuts[i % Math.max(1, cuts.length)];
          if (cut !== undefined && i % 7 === 6) {
            const before = s.tMs[Math.floor(cut * i)]! - 1;
            evicted += w.evictBefore(before);
          }
        }
        const batch = timeDomain(w.series());
        const inc = w.timeDomain();
        for (const k of Object.keys(batch) as Array<keyof typeof batch>) {
          if (!close(inc[k], batch[k])) throw new Error(`${k}: streaming ${inc[k]} vs batch ${batch[k]} (evicted ${evicted})`);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('full measures equal the batch functions on the same intervals', () => {
    const w = new StreamingHrvWindow();
    let t = 0;
    for (let i = 0; i < 700; i++) {
      const rr = 800 + 40 * Math.sin((2 * Math.PI * 0.25 * t) / 1000) + 20 * Math.sin((2 * Math.PI * 0.1 * t) / 1000);
      t += rr;
      if (i % 97 !== 50) w.append(t, rr);
      w.evictBefore(t - 300_000);
    }
    const s = w.series();
    expect(w.size).toBeGreaterThan(300);
    const m = w.measures('welch');
    const f = frequencyDomain(s, 'welch');
    const n = nonlinear(s);
    expect(m.hf_ms2).toBe(f.hf_ms2);
    expect(m.sampen).toBe(n.sampen);
    expect(m.hf_ms2!).toBeGreaterThan(m.lf_ms2!);
  });

  it('refuses times going backwards and non-positive intervals', () => {
    const w = new StreamingHrvWindow();
    w.append(1000, 800);
    expect(() => w.append(900, 800)).toThrow(/not after/);
    expect(() => w.append(2000, 0)).toThrow(/invalid interval/);
  });

  it('stays exact over a day of beats (periodic rebuild bounds drift)', () => {
    const w = new StreamingHrvWindow();
    let t = 0;
    for (let i = 0; i < 100_000; i++) {
      const rr = 700 + ((i * 7919) % 300);
      t += rr;
      w.append(t, rr);
      w.evictBefore(t - 300_000);
    }
    const b = timeDomain(w.series());
    const inc = w.timeDomain();
    expect(close(inc.sdnn_ms, b.sdnn_ms)).toBe(true);
    expect(close(inc.rmssd_ms, b.rmssd_ms)).toBe(true);
  });
});

describe('streaming window precision', () => {
  it('stays exact when the heart rate jumps far from where the window started', () => {
    const w = new StreamingHrvWindow();
    let t = 0;
    for (let i = 0; i < 100; i++) w.append((t += 400), 400);
    for (let i = 0; i < 200; i++) {
      const rr = 1500 + (i % 2 ? 0.001 : -0.001);
      w.append((t += rr), rr);
    }
    w.evictBefore(t - 200 * 1500 + 10);
    const b = timeDomain(w.series());
    const inc = w.timeDomain({ geometric: false });
    expect(close(inc.sdnn_ms, b.sdnn_ms)).toBe(true);
    expect(inc.hti).toBeNull();
  });
});
