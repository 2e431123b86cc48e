import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fft, isPowerOfTwo, nextPowerOfTwo, realFft } from './fft.js';

/** Direct O(n²) DFT, the definition the FFT must reproduce. */
function dft(re: Float64Array, im: Float64Array): [Float64Array, Float64Array] {
  const n = re.length;
  const outRe = new Float64Array(n);
  const outIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < n; j++) {
      const a = (-2 * Math.PI * j * k) / n;
      outRe[k] = outRe[k]! + re[j]! * Math.cos(a) - im[j]! * Math.sin(a);
      outIm[k] = outIm[k]! + re[j]! * Math.sin(a) + im[j]! * Math.cos(a);
    }
  }
  return [outRe, outIm];
}

describe('fft', () => {
  it('matches the direct DFT for every power-of-two length up to 256', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 1, max: 2 ** 31 - 1 }), (bits, seed) => {
        const n = 2 ** bits;
        let x = seed;
        const rnd = () => ((x = (x * 48271) % 2147483647) / 2147483647) * 2 - 1;
        const re = Float64Array.from({ length: n }, rnd);
        const im = Float64Array.from({ length: n }, rnd);
        const [wantRe, wantIm] = dft(re, im);
        fft(re, im);
        for (let k = 0; k < n; k++) {
          expect(re[k]).toBeCloseTo(wantRe[k]!, 9);
          expect(im[k]).toBeCloseTo(wantIm[k]!, 9);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('realFft equals the complex FFT of the same real signal on bins 0 … n/2', () => {
    for (const n of [2, 4, 8, 64, 1024]) {
      const x = Float64Array.from(
        { length: n },
        (_, j) => Math.sin(j * 1.7) + 0.3 * Math.cos(j * j * 0.01) + (j % 3),
      );
      const re = Float64Array.from(x);
      const im = new Float64Array(n);
      fft(re, im);
      const outRe = new Float64Array(n / 2 + 1);
      const outIm = new Float64Array(n / 2 + 1);
      realFft(x, outRe, outIm);
      for (let k = 0; k <= n / 2; k++) {
        expect(outRe[k], `n=${n} k=${k}`).toBeCloseTo(re[k]!, 9);
        expect(outIm[k], `n=${n} k=${k}`).toBeCloseTo(im[k]!, 9);
      }
    }
    expect(() => realFft(new Float64Array(8), new Float64Array(4), new Float64Array(5))).toThrow(RangeError);
  });

  it('puts a cosine of 5 cycles into bins 5 and n − 5 with amplitude n/2', () => {
    const n = 64;
    const re = Float64Array.from({ length: n }, (_, j) => Math.cos((2 * Math.PI * 5 * j) / n));
    const im = new Float64Array(n);
    fft(re, im);
    expect(re[5]).toBeCloseTo(n / 2, 9);
    expect(re[n - 5]).toBeCloseTo(n / 2, 9);
    expect(Math.hypot(re[6]!, im[6]!)).toBeLessThan(1e-9);
  });

  it('rejects lengths that are not a power of two, and mismatched halves', () => {
    expect(() => fft(new Float64Array(12), new Float64Array(12))).toThrow(RangeError);
    expect(() => fft(new Float64Array(16), new Float64Array(8))).toThrow(RangeError);
    expect(isPowerOfTwo(1024)).toBe(true);
    expect(isPowerOfTwo(1000)).toBe(false);
    expect(nextPowerOfTwo(1200)).toBe(2048);
  });
});
