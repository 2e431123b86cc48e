import { describe, expect, it } from 'vitest';
import { mixNoise, NOISE_TYPES, qrsAmplitude } from './noise-stress.js';
import { syntheticEcg } from '../test-support/synthetic-ecg.js';

describe('mixNoise', () => {
  const ecg = syntheticEcg({ fsHz: 360, durationS: 60, seed: 3 });

  it('measures the QRS amplitude as the median peak-to-peak around the R peaks', () => {
    const a = qrsAmplitude(ecg.signal, ecg.fsHz, ecg.rPeaks);
    // The synthetic R wave is 1 mV on a flat baseline, with small Q/S waves.
    expect(a).toBeGreaterThan(0.9);
    expect(a).toBeLessThan(1.6);
  });

  for (const type of NOISE_TYPES) {
    it(`${type}: scales the noise to the requested SNR and is reproducible`, () => {
      for (const snr of [24, 12, 0]) {
        const r = mixNoise(ecg.signal, ecg.fsHz, ecg.rPeaks, type, snr, { seed: 5 });
        // Mean square over the whole record equals S / 10^(SNR/10), as in the MIT-BIH NST.
        let s = 0;
        for (const v of r.noise) s += v * v;
        expect(10 * Math.log10(r.signalPower / (s / r.noise.length))).toBeCloseTo(snr, 1);
        for (let i = 0; i < 1000; i++) expect(r.signal[i]).toBeCloseTo(ecg.signal[i]! + r.noise[i]!, 12);
      }
      const a = mixNoise(ecg.signal, ecg.fsHz, ecg.rPeaks, type, 6, { seed: 9 });
      const b = mixNoise(ecg.signal, ecg.fsHz, ecg.rPeaks, type, 6, { seed: 9 });
      const c = mixNoise(ecg.signal, ecg.fsHz, ecg.rPeaks, type, 6, { seed: 10 });
      expect(b.noise).toEqual(a.noise);
      expect(c.noise).not.toEqual(a.noise);
    });
  }

  it('transients and spikes occupy only part of the record', () => {
    for (const type of ['motion', 'spikes'] as const) {
      const r = mixNoise(ecg.signal, ecg.fsHz, ecg.rPeaks, type, 12);
      const activeFrac = r.active.reduce((a, v) => a + v, 0) / r.noise.length;
      expect(activeFrac).toBeGreaterThan(0.005);
      expect(activeFrac).toBeLessThan(0.5);
    }
  });

  it('rejects powerline above the Nyquist frequency and a non-finite SNR', () => {
    expect(() => mixNoise(ecg.signal, ecg.fsHz, ecg.rPeaks, 'muscle', NaN)).toThrow(/SNR/);
    const slow = syntheticEcg({ fsHz: 100, durationS: 10 });
    expect(() => mixNoise(slow.signal, 100, slow.rPeaks, 'powerline', 6)).toThrow(/Nyquist/);
  });
});
