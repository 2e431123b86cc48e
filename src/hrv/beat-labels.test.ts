import { describe, expect, it } from 'vitest';
import { classifyBeats, labelBeats } from './beat-labels.js';
import { detectEcgBeats, detectFromFeatures, ecgFeatures } from './ecg-detect.js';
import { matchBeats, scoreLabel } from './beat-matching.js';
import { successiveDifferences } from './segments.js';
import type { BeatLabel, RrSeries } from './types.js';
import { syntheticEcg } from '../test-support/synthetic-ecg.js';
import { mixNoise } from './noise-stress.js';
import {
  hasSharedData,
  readBeats,
  readEcg,
  readReferenceHrv,
  SHARED_DATA_SKIP_REASON,
} from '../test-support/shared-data.js';

/** Adds a Gaussian wave (centre s, width s, amplitude mV) to x. */
function addGauss(x: Float64Array, fsHz: number, centreS: number, widthS: number, amp: number): void {
  const c = centreS * fsHz;
  const w = widthS * fsHz;
  for (let i = Math.max(0, Math.floor(c - 5 * w)); i <= Math.min(x.length - 1, Math.ceil(c + 5 * w)); i++) {
    const d = (i - c) / w;
    x[i] = x[i]! + amp * Math.exp(-0.5 * d * d);
  }
}

/**
 * Sinus rhythm (800 ms with a slow ±5% respiratory swing) where every 7th beat is an atrial premature beat:
 * the same QRS 25% early, with a non-compensatory pause after it.
 */
function withApcs(fsHz: number, durationS: number): { signal: Float64Array; peaks: Int32Array; labels: BeatLabel[] } {
  const x = new Float64Array(Math.round(durationS * fsHz));
  const peaks: number[] = [];
  const labels: BeatLabel[] = [];
  let t = 0.6;
  for (let k = 0; t < durationS - 0.8; k++) {
    const rr = 0.8 * (1 + 0.05 * Math.sin(2 * Math.PI * 0.25 * t));
    const isS = k > 2 && k % 7 === 0;
    t += isS ? 0.75 * rr : k === 0 ? 0 : rr;
    addGauss(x, fsHz, t - 0.16, 0.025, 0.12);
    addGauss(x, fsHz, t, 0.01, 1);
    addGauss(x, fsHz, t + 0.03, 0.01, -0.2);
    addGauss(x, fsHz, t + 0.28, 0.06, 0.3);
    peaks.push(Math.round(t * fsHz));
    labels.push(isS ? 'S' : 'N');
    if (isS) t += 0.1 * rr; // the sinus node resets: the next interval is a little longer than a cycle
  }
  return { signal: x, peaks: Int32Array.from(peaks), labels };
}

describe('labelBeats: S and Q', () => {
  it('labels premature beats of normal shape S, and only those', () => {
    const h = withApcs(360, 120);
    expect(labelBeats(h.signal, 360, h.peaks)).toEqual(h.labels);
  });

  it('labels the beats of a stretch buried in muscle noise Q, not N or V, and keeps the others', () => {
    const fsHz = 360;
    const ecg = syntheticEcg({ fsHz, durationS: 90, pvcEvery: 4, noiseMv: 0.01, seed: 21 });
    const noisy = mixNoise(ecg.signal, fsHz, ecg.rPeaks, 'muscle', -6, { seed: 2 });
    const from = 40 * fsHz;
    const to = 55 * fsHz;
    const x = Float64Array.from(ecg.signal);
    for (let i = from; i < to; i++) x[i] = noisy.signal[i]!;
    const labels = labelBeats(x, fsHz, ecg.rPeaks);
    let q = 0;
    ecg.rPeaks.forEach((p, i) => {
      const inside = p > from + fsHz && p < to - fsHz;
      const outside = p < from - 2 * fsHz || p > to + 2 * fsHz;
      if (inside) {
        expect(labels[i]).toBe('Q');
        q++;
      }
      if (outside) expect(labels[i]).toBe(ecg.labels[i]);
    });
    expect(q).toBeGreaterThan(10);
  });
});

describe('labelBeats on synthetic ECG', () => {
  it('labels premature wide beats with a compensatory pause V and the rest N', () => {
    for (const pvcPolarity of [1, -1]) {
      const ecg = syntheticEcg({
        fsHz: 250,
        durationS: 90,
        pvcEvery: 4,
        pvcPolarity,
        noiseMv: 0.02,
        seed: 11,
      });
      const labels = labelBeats(ecg.signal, ecg.fsHz, ecg.rPeaks);
      expect(labels).toEqual(ecg.labels);
    }
  });

  it('labels everything N in sinus rhythm, even with noise and wander', () => {
    const ecg = syntheticEcg({ fsHz: 360, durationS: 60, wanderMv: 1, noiseMv: 0.05, seed: 5 });
    expect(labelBeats(ecg.signal, ecg.fsHz, ecg.rPeaks).every((l) => l === 'N')).toBe(true);
  });

  it('exposes the evidence: V beats are early, unlike the normal template, and followed by a pause', () => {
    const ecg = syntheticEcg({ fsHz: 360, durationS: 60, pvcEvery: 5, seed: 2 });
    const c = classifyBeats(ecgFeatures(ecg.signal, 360), 360, ecg.rPeaks);
    c.labels.forEach((l, b) => {
      if (l !== 'V') return;
      expect(c.prematurity[b]).toBeLessThan(0.8);
      expect(c.pause[b]).toBeGreaterThan(1.2);
      expect(c.corrN[b]).toBeLessThan(0.9);
    });
  });

  it('rejects beats outside the signal or out of order', () => {
    const ecg = syntheticEcg({ fsHz: 250, durationS: 10 });
    expect(() => labelBeats(ecg.signal, 250, Int32Array.from([100, 50, 300]))).toThrow(/does not follow/);
    expect(() => labelBeats(ecg.signal, 250, Int32Array.from([100, 200, 99999]))).toThrow(
      /outside the signal/,
    );
  });

  it('handles fewer than three beats', () => {
    const ecg = syntheticEcg({ fsHz: 250, durationS: 10 });
    expect(labelBeats(ecg.signal, 250, Int32Array.from([500]))).toEqual(['N']);
  });
});

/** NN series from detected beats: an interval is kept only when both its beats are N; others leave a gap. */
function nnSeries(peaks: Int32Array, labels: BeatLabel[], fsHz: number, endS: number): RrSeries {
  const t: number[] = [];
  const rr: number[] = [];
  for (let j = 1; j < peaks.length; j++) {
    if (peaks[j]! / fsHz >= endS) break;
    if (labels[j] === 'N' && labels[j - 1] === 'N') {
      t.push((peaks[j]! / fsHz) * 1000);
      rr.push(((peaks[j]! - peaks[j - 1]!) / fsHz) * 1000);
    }
  }
  return { tMs: Float64Array.from(t), rrMs: Float64Array.from(rr) };
}

function sdnn(x: Float64Array): number {
  const mean = x.reduce((a, b) => a + b, 0) / x.length;
  return Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / (x.length - 1));
}

function rmssd(s: RrSeries): number {
  const d = successiveDifferences(s);
  return Math.sqrt(d.reduce((a, b) => a + b * b, 0) / d.length);
}

interface NkTime {
  SDNN: number;
  RMSSD: number;
}

function referenceTime(record: string, window: 'first_5min' | 'whole'): NkTime {
  const ref = readReferenceHrv() as {
    records: Record<string, { windows: Record<string, { NN: { neurokit2: { time: NkTime } } }> }>;
  };
  return ref.records[record]!.windows[window]!.NN.neurokit2.time;
}

describe.skipIf(!hasSharedData())('labelBeats on MIT-BIH records', () => {
  if (!hasSharedData()) console.warn(SHARED_DATA_SKIP_REASON);
  const cache = new Map<string, { fsHz: number; peaks: Int32Array; labels: BeatLabel[] }>();
  const run = (record: '105' | '119') => {
    let r = cache.get(record);
    if (!r) {
      const { fsHz, mv } = readEcg(record);
      const features = ecgFeatures(mv, fsHz);
      const peaks = detectFromFeatures(features, fsHz);
      r = { fsHz, peaks, labels: labelBeats(mv, fsHz, peaks, features) };
      cache.set(record, r);
    }
    return r;
  };

  for (const record of ['105', '119'] as const) {
    it(`record ${record}: V sensitivity and positive predictivity ≥ 0.95 on matched beats`, () => {
      const { fsHz, peaks, labels } = run(record);
      const ann = readBeats(record);
      const m = matchBeats(
        ann.map((a) => a.sample),
        peaks,
        0.15 * fsHz,
      );
      const v = scoreLabel(
        m,
        ann.map((a) => a.symbol),
        labels,
        'V',
      );
      console.log(
        `record ${record}: V Se ${v.sensitivity.toFixed(4)} (${v.fn} missed), PPV ${v.ppv.toFixed(4)} (${v.fp} false)`,
      );
      expect(v.sensitivity).toBeGreaterThanOrEqual(0.95);
      expect(v.ppv).toBeGreaterThanOrEqual(0.95);
    });
  }

  it('record 100: S sensitivity ≥ 0.9 on its 33 atrial premature beats, and few false S', () => {
    const { fsHz, mv } = readEcg('100');
    const peaks = detectEcgBeats(mv, fsHz);
    const labels = labelBeats(mv, fsHz, peaks);
    const ann = readBeats('100');
    const m = matchBeats(
      ann.map((a) => a.sample),
      peaks,
      0.15 * fsHz,
    );
    const s = scoreLabel(
      m,
      ann.map((a) => (a.symbol === 'A' ? 'S' : a.symbol)),
      labels,
      'S',
    );
    expect(s.tp + s.fn).toBe(33);
    expect(s.sensitivity).toBeGreaterThanOrEqual(0.9);
    expect(s.ppv).toBeGreaterThanOrEqual(0.9);
  });

  for (const window of ['first_5min', 'whole'] as const) {
    it(`record 119 (${window}): SDNN and RMSSD of our own NN series within 5% of the annotated NN values`, () => {
      const { fsHz, peaks, labels } = run('119');
      const nn = nnSeries(peaks, labels, fsHz, window === 'whole' ? Infinity : 300);
      const ref = referenceTime('119', window);
      const s = sdnn(nn.rrMs);
      const r = rmssd(nn);
      console.log(
        `record 119 ${window}: SDNN ${s.toFixed(2)} ms (annotations ${ref.SDNN.toFixed(2)}), ` +
          `RMSSD ${r.toFixed(2)} ms (annotations ${ref.RMSSD.toFixed(2)})`,
      );
      expect(Math.abs(s / ref.SDNN - 1)).toBeLessThan(0.05);
      expect(Math.abs(r / ref.RMSSD - 1)).toBeLessThan(0.05);
    });
  }
});
