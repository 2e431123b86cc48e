import { describe, expect, it } from 'vitest';
import { timeDomain, welchPsd, type Psd } from '../hrv/index.js';
import { SyntheticPatient, syntheticPatients, syntheticSeries, type PatientParams } from './synthetic.js';

function peakHz(psd: Psd, lo: number, hi: number): number {
  let best = -1;
  let at = NaN;
  for (let i = 0; i < psd.freqHz.length; i++) {
    const f = psd.freqHz[i]!;
    if (f >= lo && f < hi && psd.density[i]! > best) {
      best = psd.density[i]!;
      at = f;
    }
  }
  return at;
}

const calm: PatientParams = {
  patient: 'P0001',
  meanHrBpm: 65,
  respHz: 0.25,
  mayerHz: 0.1,
  hfSd: 0.04,
  lfSd: 0.035,
  vlfSd: 0.005,
  noiseSd: 0.002,
  ectopicRate: 0,
  episode: null,
  seed: 7,
};

describe('synthetic patient', () => {
  it('puts the HF peak at the breathing rate and the LF peak at the Mayer frequency', () => {
    for (const [resp, mayer] of [
      [0.25, 0.1],
      [0.32, 0.085],
    ] as const) {
      const psd = welchPsd(syntheticSeries({ ...calm, respHz: resp, mayerHz: mayer }, 600));
      expect(psd).not.toBeNull();
      expect(Math.abs(peakHz(psd!, 0.15, 0.4) - resp)).toBeLessThan(0.02);
      expect(Math.abs(peakHz(psd!, 0.04, 0.15) - mayer)).toBeLessThan(0.02);
    }
  });

  it('has the configured mean rate and a realistic SDNN', () => {
    const s = syntheticSeries(calm, 300);
    const td = timeDomain(s);
    expect(td.mean_hr_bpm).toBeGreaterThan(62);
    expect(td.mean_hr_bpm).toBeLessThan(68);
    expect(td.sdnn_ms).toBeGreaterThan(20);
    expect(td.sdnn_ms).toBeLessThan(120);
    // Beat times are the running sum of the intervals, so the gateway's CSV is self-consistent.
    for (let i = 1; i < s.tMs.length; i++) expect(s.tMs[i]! - s.tMs[i - 1]!).toBe(s.rrMs[i]);
  });

  it('is deterministic for a seed and differs between patients', () => {
    const [a, b] = syntheticPatients(2, 42);
    expect(Array.from(syntheticSeries(a!, 30).rrMs)).toEqual(Array.from(syntheticSeries(a!, 30).rrMs));
    expect(a!.meanHrBpm).not.toBe(b!.meanHrBpm);
  });

  it('develops tachycardia, bradycardia and AF-like irregularity during their episodes', () => {
    const ps = syntheticPatients(10, 1);
    const hrIn = (p: PatientParams): { before: number; during: number; rmssdDuring: number } => {
      const ep = p.episode!;
      const s = syntheticSeries(p, ep.startS + ep.durationS);
      const pick = (lo: number, hi: number): number[] =>
        Array.from(s.rrMs).filter((_, i) => s.tMs[i]! > lo * 1000 && s.tMs[i]! < hi * 1000);
      const before = pick(0, ep.startS);
      const during = pick(ep.startS + 8, ep.startS + ep.durationS - 8);
      const mean = (xs: number[]): number => xs.reduce((x, y) => x + y, 0) / xs.length;
      const diffs = during.slice(1).map((v, i) => v - during[i]!);
      return {
        before: 60000 / mean(before),
        during: 60000 / mean(during),
        rmssdDuring: Math.sqrt(mean(diffs.map((d) => d * d))),
      };
    };
    const tachy = ps.find((p) => p.episode?.kind === 'tachycardia')!;
    const brady = ps.find((p) => p.episode?.kind === 'bradycardia')!;
    const af = ps.find((p) => p.episode?.kind === 'af')!;
    expect(hrIn(tachy).during).toBeGreaterThan(125);
    expect(hrIn(brady).during).toBeLessThan(42);
    expect(hrIn(af).rmssdDuring).toBeGreaterThan(100);
    expect(ps.filter((p) => p.episode === null)).toHaveLength(7);
  });

  it('produces premature beats followed by a compensatory pause', () => {
    const p = new SyntheticPatient({ ...calm, ectopicRate: 0.05 });
    let found = 0;
    let prev = p.next();
    for (let i = 0; i < 2000; i++) {
      const b = p.next();
      if (prev.ectopic) {
        expect(b.rrMs).toBeGreaterThan(prev.rrMs * 1.6);
        found++;
      }
      prev = b;
    }
    expect(found).toBeGreaterThan(40);
  });
});
