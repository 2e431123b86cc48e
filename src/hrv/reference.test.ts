/**
 * Accuracy against the reference values in ../shared/data (NeuroKit2 0.2.12; see its README): NN series
 * with gaps of MIT-BIH 100, 105, 119 and nsr001; EC57 test patterns; synthetic series with known answers.
 */
import { describe, expect, it } from 'vitest';
import { hasSharedData, readBeats, readReferenceHrv, readRrColumn, SHARED_DATA_SKIP_REASON } from '../test-support/shared-data.js';
import { nnSeriesFromBeats, windowOf } from './annotations.js';
import { frequencyDomain } from './frequency.js';
import { dfaAlpha, dfaScales, nonlinear } from './nonlinear.js';
import { seriesFromIntervals } from './segments.js';
import { timeDomain } from './time-domain.js';

const have = hasSharedData();
if (!have) console.log(SHARED_DATA_SKIP_REASON);

interface NkWindow {
  t_start_s: number;
  t_end_s: number;
  NN: { neurokit2: { time: Record<string, number>; nonlinear: Record<string, number> } };
}
type Ref = { records: Record<string, { windows: Record<string, NkWindow> }>; synthetic: { series: Record<string, { rr_ms: number[]; expected: Record<string, unknown> }> } };

const rel = (a: number | null, b: number) => Math.abs((a as number) - b) / Math.abs(b);

describe.skipIf(!have)('time-domain and nonlinear measures against NeuroKit2 (NN series with gaps)', () => {
  const ref = have ? (readReferenceHrv() as unknown as Ref) : undefined;
  for (const rec of ['100', '105', '119', 'nsr001'] as const) {
    it(`record ${rec}: time domain and Poincaré within 0.5%, SampEn within 3%, DFA α1 within 5%`, () => {
      // Beat times from sample numbers (not the 6-decimal t_s column), as the reference was computed.
      const fs = rec === 'nsr001' ? 128 : 360;
      const beats = readBeats(rec).map((b) => ({ tS: b.sample / fs, symbol: b.symbol }));
      const nn = nnSeriesFromBeats(beats, { originS: rec === 'nsr001' ? beats[0]!.tS : 0 });
      for (const [name, w] of Object.entries(ref!.records[rec]!.windows)) {
        const s = windowOf(nn, w.t_start_s, w.t_end_s);
        const nk = w.NN.neurokit2;
        const td = timeDomain(s);
        const nl = nonlinear(s);
        const where = `${rec} ${name}`;
        expect(rel(td.mean_nn_ms, nk.time.MeanNN!), where).toBeLessThan(0.005);
        expect(rel(td.sdnn_ms, nk.time.SDNN!), where).toBeLessThan(0.005);
        expect(rel(td.rmssd_ms, nk.time.RMSSD!), where).toBeLessThan(0.005);
        expect(rel(td.sdsd_ms, nk.time.SDSD!), where).toBeLessThan(0.005);
        // NeuroKit2 divides pNN50 by the number of intervals, we by the number of differences.
        expect(rel(((td.pnn50_pct ?? 0) * diffs(s)) / (diffs(s) + 1), nk.time.pNN50!), where).toBeLessThan(0.005);
        expect(rel(td.hti, nk.time.HTI!), where).toBeLessThan(0.005);
        expect(rel(nl.sd1_ms, nk.nonlinear.SD1!), where).toBeLessThan(0.005);
        expect(rel(nl.sd2_ms, nk.nonlinear.SD2!), where).toBeLessThan(0.005);
        expect(rel(nl.sampen, nk.nonlinear.SampEn!), where).toBeLessThan(0.03);
        // NeuroKit2's DFA_alpha1 in this reference uses its default scales 4–11 beats; with the same
        // scales ours reproduces it. Our reported α1 uses the Task Force's 4–16 (see docs/validation.md).
        expect(rel(dfaAlpha(s.rrMs, dfaScales(4, 11)), nk.nonlinear.DFA_alpha1!), where).toBeLessThan(0.05);
      }
    });
  }
});

function countGaps(s: { tMs: Float64Array; rrMs: Float64Array }): number {
  let g = 0;
  for (let i = 1; i < s.rrMs.length; i++) if (Math.abs(s.tMs[i]! - s.rrMs[i]! - s.tMs[i - 1]!) > 5) g++;
  return g;
}
function diffs(s: { tMs: Float64Array; rrMs: Float64Array }): number {
  return s.rrMs.length - 1 - countGaps(s);
}

describe.skipIf(!have)('band powers against known answers', () => {
  const expected: Record<string, [keyof ReturnType<typeof frequencyDomain>, number]> = {
    tp2: ['hf_ms2', 612.5],
    tp3: ['lf_ms2', 2450],
    tp4: ['vlf_ms2', 39200],
  };
  for (const [tp, [key, value]] of Object.entries(expected)) {
    it(`EC57 ${tp}: ${key} within 2% of ${value} ms² (Welch and Lomb–Scargle)`, () => {
      const s = seriesFromIntervals(readRrColumn(`rr_ec57_${tp}.csv.gz`));
      expect(rel(frequencyDomain(s, 'welch')[key] as number, value)).toBeLessThan(0.02);
      expect(rel(frequencyDomain(s, 'lomb')[key] as number, value)).toBeLessThan(0.02);
    });
  }

  it('EC57 tp5 (a 1-hour modulation, outside every band): band powers ≈ 0', () => {
    const s = seriesFromIntervals(readRrColumn('rr_ec57_tp5.csv.gz'));
    for (const m of ['welch', 'lomb'] as const) {
      const f = frequencyDomain(s, m);
      // The pattern's variance is 9800 ms²; what leaks into the bands is a tiny fraction of it.
      expect(f.vlf_ms2! + f.lf_ms2! + f.hf_ms2!).toBeLessThan(9800 * 0.001 + 1);
    }
  });

  it('synthetic sines and mixtures: band powers within 2% of A²/2, peaks at the right frequency, constants ≈ 0', () => {
    const ref = readReferenceHrv() as unknown as Ref;
    for (const [name, syn] of Object.entries(ref.synthetic.series)) {
      const s = seriesFromIntervals(syn.rr_ms);
      for (const m of ['welch', 'lomb'] as const) {
        const f = frequencyDomain(s, m);
        const e = syn.expected as { LF_ms2?: number; HF_ms2?: number; peak_hz?: number };
        if (name.startsWith('constant')) {
          expect(f.lf_ms2, name).toBeCloseTo(0, 6);
          expect(f.hf_ms2, name).toBeCloseTo(0, 6);
          continue;
        }
        if (name.startsWith('alternating')) continue; // all power at the beat Nyquist frequency, outside the bands
        for (const [key, want] of [
          ['lf_ms2', e.LF_ms2],
          ['hf_ms2', e.HF_ms2],
        ] as const) {
          if (want === undefined) continue;
          if (want === 0) expect(f[key]!, `${name} ${m} ${key}`).toBeLessThan(5);
          else expect(rel(f[key], want), `${name} ${m} ${key}`).toBeLessThan(0.02);
        }
        if (e.peak_hz !== undefined) {
          const peak = e.peak_hz < 0.15 ? f.peak_lf_hz : f.peak_hf_hz;
          expect(Math.abs(peak! - e.peak_hz), `${name} ${m} peak`).toBeLessThan(0.005);
        }
      }
    }
  });
});
