/**
 * Band powers of known sines at low heart rates (breathing approaching half the beat rate), HF on short
 * windows, and partial windows.
 */
import { describe, expect, it } from 'vitest';
import { frequencyDomain, splineGain } from './frequency.js';
import { analyzeWindows } from './windows.js';
import type { RrSeries } from './types.js';

const A = 50;
const TRUTH = (A * A) / 2;

/** 300 s of RR modulated by a sine of amplitude A ms at f Hz around mean ms (rr_i = mean + A sin 2πf t_i). */
function sine(meanMs: number, f: number, durationS = 300): RrSeries {
  const t: number[] = [];
  const rr: number[] = [];
  let tt = 0;
  while (tt < durationS * 1000 - 2 * meanMs) {
    const r = meanMs + A * Math.sin((2 * Math.PI * f * tt) / 1000);
    tt += r;
    t.push(tt);
    rr.push(r);
  }
  return { tMs: Float64Array.from(t), rrMs: Float64Array.from(rr) };
}

function bandOf(f: number): 'lf_ms2' | 'hf_ms2' {
  return f < 0.15 ? 'lf_ms2' : 'hf_ms2';
}

describe('band powers of sines for mean RR 600–1700 ms (no low-heart-rate bias)', () => {
  it('the spline transfer function is 1 at DC and explains the old bias (−16% at 1000 ms / 0.35 Hz, −40% at 1200 ms)', () => {
    expect(splineGain(0)).toBe(1);
    expect(splineGain(0.35) ** 2).toBeCloseTo(0.84, 2);
    expect(splineGain(0.42) ** 2).toBeCloseTo(0.6, 2);
  });

  it('Lomb–Scargle (the default) is within 2% wherever the sine is below the beat Nyquist frequency', () => {
    for (const mean of [600, 800, 1000, 1200, 1400, 1700]) {
      for (const f of [0.1, 0.25, 0.3, 0.35]) {
        if (f >= 0.5 / (mean / 1000) - 0.01) continue;
        const p = frequencyDomain(sine(mean, f))[bandOf(f)];
        expect(Math.abs(p! / TRUTH - 1), `${mean} ms, ${f} Hz: ${p}`).toBeLessThan(0.02);
      }
    }
  });

  it('Welch, corrected for the spline and without the images above the beat Nyquist frequency, is within 2% from 600 to 1700 ms', () => {
    for (const mean of [600, 800, 1000, 1200, 1400, 1700]) {
      for (const f of [0.1, 0.25, 0.3, 0.35]) {
        const p = frequencyDomain(sine(mean, f), 'welch')[bandOf(f)];
        expect(Math.abs(p! / TRUTH - 1), `${mean} ms, ${f} Hz: ${p}`).toBeLessThan(0.02);
      }
    }
  });
});

describe('HF where it cannot be estimated', () => {
  it('is null on windows shorter than about a minute (10-s and 30-s windows), for both methods', () => {
    const s = sine(800, 0.25, 600);
    for (const psd of ['welch', 'lomb'] as const) {
      for (const windowS of [10, 30]) {
        const ws = analyzeWindows(s, { windowS, psd });
        expect(ws.every((w) => w.hf_ms2 === null), `${psd} ${windowS} s`).toBe(true);
      }
      const minute = analyzeWindows(s, { windowS: 60, psd }).filter((w) => !w.partial);
      expect(minute.every((w) => w.hf_ms2 !== null), `${psd} 60 s`).toBe(true);
    }
  });

  it('is null when the whole HF band lies above the beat Nyquist frequency (RR 3.5 s)', () => {
    const s = sine(3500, 0.05, 900);
    expect(frequencyDomain(s).hf_ms2).toBeNull();
    expect(frequencyDomain(s, 'welch').hf_ms2).toBeNull();
  });
});

describe('partial windows', () => {
  it('marks the last window when the data end inside it, and only it', () => {
    const ws = analyzeWindows(sine(800, 0.25, 400), { windowS: 300 });
    expect(ws.map((w) => w.partial)).toEqual([false, true]);
    expect(ws[1]!.covered_s).toBeLessThan(110);
  });
});
