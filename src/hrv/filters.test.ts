import { describe, expect, it } from 'vitest';
import {
  butterBandpass,
  butterHighpass,
  butterLowpass,
  derivative,
  filtfilt,
  filtfiltPair,
  movingAverage,
  movingAverageInPlace,
  movingAverageInto,
  movingMeanSquare,
  sosFilter,
  sosGain,
} from './filters.js';
import { HrvError } from './errors.js';

const sine = (n: number, hz: number, fsHz: number, amp = 1): Float64Array =>
  Float64Array.from({ length: n }, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / fsHz));

const rms = (x: Float64Array, from = 0, to = x.length): number => {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / (to - from));
};

describe('Butterworth design', () => {
  it('has −3 dB at the cutoffs and unit gain in the pass band', () => {
    const bp = butterBandpass(5, 15, 360, 2);
    expect(sosGain(bp, 5, 360)).toBeCloseTo(Math.SQRT1_2, 6);
    expect(sosGain(bp, 15, 360)).toBeCloseTo(Math.SQRT1_2, 6);
    expect(sosGain(bp, Math.sqrt(5 * 15), 360)).toBeGreaterThan(0.999);
    expect(sosGain(bp, 0.3, 360)).toBeLessThan(0.01);
    expect(sosGain(bp, 60, 360)).toBeLessThan(0.1);

    const lp = butterLowpass(40, 360, 3);
    expect(sosGain(lp, 0, 360)).toBeCloseTo(1, 12);
    expect(sosGain(lp, 40, 360)).toBeCloseTo(Math.SQRT1_2, 6);
    expect(sosGain(lp, 150, 360)).toBeLessThan(0.01);

    const hp = butterHighpass(0.5, 360, 2);
    expect(sosGain(hp, 180, 360)).toBeCloseTo(1, 12);
    expect(sosGain(hp, 0.5, 360)).toBeCloseTo(Math.SQRT1_2, 6);
    expect(sosGain(hp, 0.05, 360)).toBeLessThan(0.011);
  });

  it('gives the same response as scipy.signal.butter (values from scipy 1.17)', () => {
    // scipy.signal.butter(2, [5, 15], 'band', fs=360, output='sos'): denominators of its two sections.
    const bp = butterBandpass(5, 15, 360, 2);
    const dens = [
      [bp[4]!, bp[5]!],
      [bp[10]!, bp[11]!],
    ].sort((a, b) => a[0]! - b[0]!);
    expect(dens[0]![0]).toBeCloseTo(-1.9193726171, 9);
    expect(dens[0]![1]).toBeCloseTo(0.9287446452, 9);
    expect(dens[1]![0]).toBeCloseTo(-1.7919338332, 9);
    expect(dens[1]![1]).toBeCloseTo(0.8412220576, 9);
    // scipy.signal.butter(2, 0.5, 'high', fs=360, output='sos')
    expect(Array.from(butterHighpass(0.5, 360, 2)).map((v) => +v.toFixed(9))).toEqual([
      0.993848329, -1.987696657, 0.993848329, 1, -1.987658814, 0.987734501,
    ]);
  });

  it('rejects cutoffs outside (0, fs/2), reversed bands and silly orders', () => {
    expect(() => butterLowpass(200, 360)).toThrow(/fs\/2 = 180 Hz/);
    expect(() => butterBandpass(15, 5, 360)).toThrow(/below the high edge/);
    expect(() => butterBandpass(5, 15, 360, 0)).toThrow(HrvError);
    expect(() => butterHighpass(1, 0)).toThrow(/sampling rate/);
  });
});

describe('filtfilt', () => {
  it('matches scipy.signal.sosfiltfilt including the padded ends', () => {
    const x = Float64Array.from({ length: 50 }, (_, i) => Math.sin(i * 0.3) + i * 0.1);
    const y = filtfilt(butterBandpass(5, 15, 360, 2), x);
    // scipy.signal.sosfiltfilt(butter(2, [5, 15], 'band', fs=360, output='sos'), x)[:6]
    const ref = [-0.0635663082, 0.0731086493, 0.1957120162, 0.2975435908, 0.3734458906, 0.420218295];
    ref.forEach((v, i) => expect(y[i]).toBeCloseTo(v, 8));
    const yl = filtfilt(butterLowpass(40, 360, 3), x);
    // scipy.signal.sosfiltfilt(butter(3, 40, fs=360, output='sos'), x)[44:]
    const refl = [4.998671367, 5.2968506568, 5.5153128924, 5.6498567311, 5.7136448377, 5.7368466213];
    refl.forEach((v, i) => expect(yl[44 + i]).toBeCloseTo(v, 8));
  });

  it('removes baseline wander without moving a peak (zero phase)', () => {
    const fs = 360;
    const n = 10 * fs;
    const x = new Float64Array(n);
    const peak = 5 * fs + 17;
    for (let i = 0; i < n; i++) {
      const t = (i - peak) / fs;
      x[i] = Math.exp(-(t * t) / (2 * 0.012 * 0.012)) + 2 * Math.sin(2 * Math.PI * 0.2 * (i / fs)) + 0.5;
    }
    const y = filtfilt(butterBandpass(5, 30, fs, 2), x);
    let arg = 0;
    for (let i = 1; i < n; i++) if (y[i]! > y[arg]!) arg = i;
    expect(arg).toBe(peak);
    // Far from the spike, the 0.2 Hz wander and the DC offset are gone.
    expect(rms(y, fs, 4 * fs)).toBeLessThan(0.01);
  });

  it('attenuates out-of-band tones and keeps in-band ones, with the squared magnitude', () => {
    const fs = 250;
    const lp = butterLowpass(20, fs, 2);
    const pass = filtfilt(lp, sine(5000, 5, fs));
    const stop = filtfilt(lp, sine(5000, 80, fs));
    expect(rms(pass, 500, 4500)).toBeCloseTo(Math.SQRT1_2 * sosGain(lp, 5, fs) ** 2, 3);
    expect(rms(stop, 500, 4500)).toBeLessThan(0.01);
  });

  it('needs two samples', () => {
    expect(() => filtfilt(butterLowpass(20, 250), new Float64Array(1))).toThrow(HrvError);
  });
});

describe('sosFilter', () => {
  it('is causal and settles to the DC gain of a low-pass', () => {
    const x = new Float64Array(2000).fill(3);
    const y = sosFilter(butterLowpass(10, 500, 4), x);
    expect(y[0]).toBeLessThan(0.01);
    expect(y[1999]).toBeCloseTo(3, 9);
    expect(x[0]).toBe(3); // input untouched
  });
});

describe('movingAverage and derivative', () => {
  it('averages centred windows, shrinking at the ends', () => {
    const x = Float64Array.from([1, 2, 3, 4, 5]);
    expect(Array.from(movingAverage(x, 3))).toEqual([1.5, 2, 3, 4, 4.5]);
    expect(Array.from(movingAverage(x, 2, false))).toEqual([1, 1.5, 2.5, 3.5, 4.5]);
    expect(() => movingAverage(x, 0)).toThrow(/positive integer/);
  });

  it('differentiates a ramp to its slope per second', () => {
    const fs = 200;
    const x = Float64Array.from({ length: 10 }, (_, i) => 0.5 * (i / fs));
    for (const v of derivative(x, fs)) expect(v).toBeCloseTo(0.5, 12);
  });
});

describe('the detector\'s fused and in-place forms give bit-identical numbers', () => {
  /** A noisy ECG-like test signal: a few tones, a step and pseudo-random noise (deterministic). */
  const signal = (n: number, seed: number): Float64Array => {
    let s = seed;
    return Float64Array.from({ length: n }, (_, i) => {
      s = (s * 16807) % 2147483647;
      return Math.sin(i / 7) + 0.3 * Math.sin(i / 1.3) + (i > n / 2 ? 0.8 : 0) + 0.2 * (s / 2147483647 - 0.5);
    });
  };

  it('filtfiltPair equals two filtfilt calls, sample for sample, at every supported rate and short lengths', () => {
    for (const fsHz of [125, 250, 360, 1000]) {
      for (const n of [2, 3, 16, 17, 100, 5000]) {
        const x = signal(n, fsHz + n);
        const a = butterBandpass(0.5, Math.min(40, 0.4 * fsHz), fsHz, 2);
        const b = butterBandpass(10, 25, fsHz, 2);
        const [fa, fb] = filtfiltPair(a, b, x);
        expect(Array.from(fa)).toEqual(Array.from(filtfilt(a, x)));
        expect(Array.from(fb)).toEqual(Array.from(filtfilt(b, x)));
      }
    }
  });

  it('filtfiltPair falls back to filtfilt for cascades of another form', () => {
    const x = signal(500, 1);
    const lp = butterLowpass(20, 360, 2);
    const bp4 = butterBandpass(5, 15, 360, 4);
    const [fa, fb] = filtfiltPair(lp, bp4, x);
    expect(Array.from(fa)).toEqual(Array.from(filtfilt(lp, x)));
    expect(Array.from(fb)).toEqual(Array.from(filtfilt(bp4, x)));
  });

  it('movingAverageInPlace, movingAverageInto and movingMeanSquare equal movingAverage', () => {
    for (const n of [1, 2, 5, 54, 1000]) {
      for (const width of [1, 2, 3, 14, 54, 2000]) {
        const x = signal(n, n + width);
        const ref = Array.from(movingAverage(x, width));
        expect(Array.from(movingAverageInPlace(Float64Array.from(x), width))).toEqual(ref);
        expect(Array.from(movingAverageInto(x, width, new Float64Array(n)))).toEqual(ref);
        expect(Array.from(movingMeanSquare(x, width))).toEqual(Array.from(movingAverage(x.map((v) => v * v), width)));
      }
    }
  });
});
