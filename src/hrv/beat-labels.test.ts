import { describe, expect, it } from 'vitest';
import { classifyBeats, labelBeats } from './beat-labels.js';
import { detectFromFeatures, ecgFeatures } from './ecg-detect.js';
import { matchBeats, scoreLabel } from './beat-matching.js';
import { successiveDifferences } from './segments.js';
import type { BeatLabel, RrSeries } from './types.js';
import { syntheticEcg } from '../test-support/synthetic-ecg.js';
import {
  hasSharedData,
  readBeats,
  readEcg,
  readReferenceHrv,
  SHARED_DATA_SKIP_REASON,
} from '../test-support/shared-data.js';

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
