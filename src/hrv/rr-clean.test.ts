import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  hasSharedData,
  readBeats,
  readReferenceHrv,
  SHARED_DATA_SKIP_REASON,
} from '../test-support/shared-data.js';
import { prng } from './prng.js';
import { nnSeriesFromBeats, rrAllSeriesFromBeats, windowOf } from './annotations.js';
import { HrvError } from './errors.js';
import { cleanRr, type RrCleaningReport } from './rr-clean.js';
import { followsGap } from './segments.js';
import { timeDomain } from './time-domain.js';
import type { RrSeries } from './types.js';

/**
 * Beat times (ms) of a sinus rhythm around 850 ms with respiratory (0.25 Hz, ±35 ms) and Mayer-wave
 * (0.1 Hz, ±25 ms) modulation plus AR(1) noise: SDNN ≈ 35 ms, RMSSD ≈ 30 ms, like a healthy adult at rest.
 */
function sinusBeats(nBeats: number, seed: number): number[] {
  const rnd = prng(seed);
  const phase = rnd() * 2 * Math.PI;
  const beats = [0];
  let noise = 0;
  let t = 0;
  for (let k = 1; k < nBeats; k++) {
    noise = 0.6 * noise + 8 * (rnd() + rnd() + rnd() - 1.5);
    const s = t / 1000;
    const rr =
      850 + 35 * Math.sin(2 * Math.PI * 0.25 * s) + 25 * Math.sin(2 * Math.PI * 0.1 * s + phase) + noise;
    t += rr;
    beats.push(t);
  }
  return beats;
}

/** Series of every interval between consecutive beats (the first beat has no interval). */
function seriesOfBeats(beats: readonly number[]): RrSeries {
  const n = beats.length - 1;
  const t = new Float64Array(n);
  const rr = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    t[i] = beats[i + 1]!;
    rr[i] = beats[i + 1]! - beats[i]!;
  }
  return { tMs: t, rrMs: rr };
}

/** Replaces sinus beat k by a premature beat at `coupling` of its cycle; the next sinus beat stays on time (full compensatory pause). */
function withPvc(beats: number[], k: number, coupling: number): void {
  beats[k] = beats[k - 1]! + coupling * (beats[k]! - beats[k - 1]!);
}

/** Input interval indices (series of `beats`) that touch beat k: the interval ending at it and the one starting at it. */
function touching(k: number): number[] {
  return [k - 1, k];
}

/** Indices of the input intervals that reach the output unchanged (same end time and length). */
function keptIndices(input: RrSeries, output: RrSeries): Set<number> {
  const byEnd = new Map<number, number>();
  for (let i = 0; i < output.tMs.length; i++) byEnd.set(output.tMs[i]!, output.rrMs[i]!);
  const kept = new Set<number>();
  for (let i = 0; i < input.tMs.length; i++) if (byEnd.get(input.tMs[i]!) === input.rrMs[i]!) kept.add(i);
  return kept;
}

function checkAccounting(report: RrCleaningReport): void {
  expect(report.n_kept + report.n_excluded).toBe(report.n_input);
  expect(report.n_out_of_range + report.n_ectopic + report.n_artefact).toBe(report.n_excluded);
  expect(report.n_corrected).toBeLessThanOrEqual(report.n_kept);
}

function sum(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return s;
}

describe('cleanRr on synthetic series', () => {
  it('removes nothing from a clean sinus series with realistic variability', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const input = seriesOfBeats(sinusBeats(2000, seed));
      const { series, report } = cleanRr(input);
      expect(report).toMatchObject({ n_input: 1999, n_kept: 1999, n_excluded: 0, n_corrected: 0 });
      expect(Array.from(series.rrMs)).toEqual(Array.from(input.rrMs));
      expect(Array.from(series.tMs)).toEqual(Array.from(input.tMs));
    }
  });

  it("'none' returns the input unchanged and reports no change", () => {
    const beats = sinusBeats(300, 7);
    withPvc(beats, 100, 0.6);
    const input = seriesOfBeats(beats);
    const { series, report } = cleanRr(input, { method: 'none' });
    expect(series.rrMs).toBe(input.rrMs);
    expect(series.tMs).toBe(input.tMs);
    expect(report).toEqual({
      n_input: 299,
      n_kept: 299,
      n_excluded: 0,
      n_corrected: 0,
      n_out_of_range: 0,
      n_ectopic: 0,
      n_artefact: 0,
      method: 'none',
      af_suspected: false,
      af_spans_s: [],
      n_af_uncorrected: 0,
      missed_beat_runs: [],
    });
  });

  it('excludes exactly the two intervals around an isolated PVC and leaves a gap', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1e6 }),
        fc.integer({ min: 10, max: 490 }),
        fc.double({ min: 0.5, max: 0.75, noNaN: true }),
        (seed, k, coupling) => {
          const beats = sinusBeats(500, seed);
          withPvc(beats, k, coupling);
          const input = seriesOfBeats(beats);
          const { series, report } = cleanRr(input);
          expect(report).toMatchObject({ n_excluded: 2, n_ectopic: 2, n_corrected: 0 });
          const kept = keptIndices(input, series);
          for (const i of touching(k)) expect(kept.has(i)).toBe(false);
          expect(kept.size).toBe(input.rrMs.length - 2);
          // The interval after the pause starts at the sinus beat the pause ended on, not at a kept beat.
          const after = Array.from(series.tMs).indexOf(input.tMs[k + 1]!);
          expect(followsGap(series, after)).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('holds up under runs of ventricular bigeminy: every interval touching a PVC goes, NN measures survive', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1e6 }),
        fc.integer({ min: 20, max: 200 }),
        fc.integer({ min: 20, max: 150 }),
        fc.double({ min: 0.5, max: 0.72, noNaN: true }),
        (seed, start, pvcs, coupling) => {
          const clean = sinusBeats(700, seed);
          const beats = clean.slice();
          const ectopic = new Set<number>();
          for (let j = 0; j < pvcs; j++) {
            const k = start + 2 * j;
            withPvc(beats, k, coupling);
            for (const i of touching(k)) ectopic.add(i);
          }
          const input = seriesOfBeats(beats);
          const { series, report } = cleanRr(input);
          const kept = keptIndices(input, series);
          for (const i of ectopic) expect(kept.has(i)).toBe(false);
          // Sinus intervals wrongly removed: at most a handful next to the run.
          expect(input.rrMs.length - ectopic.size - kept.size).toBeLessThanOrEqual(2);
          expect(report.n_ectopic).toBeGreaterThanOrEqual(ectopic.size);
          // Against the true NN series (the clean rhythm with the same intervals dropped, gaps kept).
          const truth = seriesOfBeats(clean);
          const keepTrue = { tMs: [] as number[], rrMs: [] as number[] };
          for (let i = 0; i < truth.rrMs.length; i++) {
            if (ectopic.has(i)) continue;
            keepTrue.tMs.push(truth.tMs[i]!);
            keepTrue.rrMs.push(truth.rrMs[i]!);
          }
          const ref = timeDomain({
            tMs: Float64Array.from(keepTrue.tMs),
            rrMs: Float64Array.from(keepTrue.rrMs),
          });
          const ours = timeDomain(series);
          expect(Math.abs(ours.sdnn_ms! / ref.sdnn_ms! - 1)).toBeLessThan(0.05);
          expect(Math.abs(ours.rmssd_ms! / ref.rmssd_ms! - 1)).toBeLessThan(0.05);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('recognises trigeminy and couplets (two PVCs in a row) and drops every interval touching them', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1e6 }),
        fc.double({ min: 0.5, max: 0.7, noNaN: true }),
        fc.double({ min: 0.5, max: 0.7, noNaN: true }),
        (seed, c1, c2) => {
          const beats = sinusBeats(600, seed);
          const ectopic = new Set<number>();
          // Trigeminy (N N V) over beats 30–240, then couplets every 10 beats over 300–560.
          for (let k = 30; k < 240; k += 3) {
            withPvc(beats, k, c1);
            for (const i of touching(k)) ectopic.add(i);
          }
          for (let k = 300; k < 560; k += 10) {
            const cycle = beats[k]! - beats[k - 1]!;
            beats[k] = beats[k - 1]! + c1 * cycle;
            beats[k + 1] = beats[k]! + c2 * cycle;
            for (const i of [k - 1, k, k + 1]) ectopic.add(i);
          }
          const input = seriesOfBeats(beats);
          const { series, report } = cleanRr(input);
          const kept = keptIndices(input, series);
          for (const i of ectopic) expect(kept.has(i)).toBe(false);
          expect(input.rrMs.length - ectopic.size - kept.size).toBeLessThanOrEqual(2);
          expect(report.n_corrected).toBe(0);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('leaves strong sinus arrhythmia alone (RMSSD > 100 ms) yet still finds a PVC in it', () => {
    const rnd = prng(42);
    const beats = [0];
    let t = 0;
    let noise = 0;
    for (let k = 1; k < 3000; k++) {
      noise = 0.5 * noise + 20 * (rnd() + rnd() + rnd() - 1.5);
      const s = t / 1000;
      t += 1100 + 150 * Math.sin(2 * Math.PI * 0.2 * s) + 40 * Math.sin(2 * Math.PI * 0.08 * s) + noise;
      beats.push(t);
    }
    const clean = seriesOfBeats(beats);
    expect(timeDomain(clean).rmssd_ms!).toBeGreaterThan(100);
    expect(cleanRr(clean).report.n_excluded).toBe(0);
    withPvc(beats, 1500, 0.6);
    const { report } = cleanRr(seriesOfBeats(beats));
    expect(report).toMatchObject({ n_ectopic: 2, n_excluded: 2 });
  });

  it('splits a missed beat (double interval) and puts the new beat near the lost one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 10, max: 490 }), (seed, k) => {
        const beats = sinusBeats(500, seed);
        const lost = beats[k]!;
        beats.splice(k, 1);
        const input = seriesOfBeats(beats);
        const { series, report } = cleanRr(input);
        expect(report).toMatchObject({ n_excluded: 0, n_corrected: 1, n_kept: input.rrMs.length });
        expect(series.rrMs.length).toBe(input.rrMs.length + 1);
        const inserted = series.tMs[k - 1]!;
        // Equal halves of two sinus cycles: off by half their difference at most (a few tens of ms).
        expect(Math.abs(inserted - lost)).toBeLessThan(60);
        expect(followsGap(series, k)).toBe(false);
      }),
      { numRuns: 60 },
    );
  });

  it('with correction off, excludes missed and extra beats instead of reconstructing them', () => {
    const beats = sinusBeats(300, 5);
    beats.splice(100, 1);
    beats.splice(200, 0, beats[199]! + 0.5 * (beats[200]! - beats[199]!));
    const input = seriesOfBeats(beats);
    const on = cleanRr(input);
    expect(on.report).toMatchObject({ n_corrected: 3, n_excluded: 0 });
    const off = cleanRr(input, { correct: false });
    expect(off.report.n_corrected).toBe(0);
    expect(off.report.n_artefact).toBe(1);
    expect(off.report.n_ectopic).toBeGreaterThanOrEqual(2);
    checkAccounting(off.report);
    expect(off.series.rrMs.length).toBe(input.rrMs.length - off.report.n_excluded);
  });

  it('merges an extra beat (split interval) back into the exact original interval', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1e6 }),
        fc.integer({ min: 10, max: 490 }),
        fc.double({ min: 0.1, max: 0.9, noNaN: true }),
        (seed, k, fraction) => {
          const beats = sinusBeats(500, seed);
          const original = seriesOfBeats(beats);
          beats.splice(k, 0, beats[k - 1]! + fraction * (beats[k]! - beats[k - 1]!));
          const { series, report } = cleanRr(seriesOfBeats(beats));
          expect(report).toMatchObject({ n_excluded: 0, n_corrected: 2 });
          expect(Array.from(series.tMs)).toEqual(Array.from(original.tMs));
          expect(series.rrMs.length).toBe(original.rrMs.length);
          for (let i = 0; i < series.rrMs.length; i++)
            expect(series.rrMs[i]).toBeCloseTo(original.rrMs[i]!, 6);
        },
      ),
      // A fixed seed: a random one found the counterexample below in a CI run (2026-12-02), which the test after
      // this one keeps; until it is fixed, a random seed would make CI fail at random.
      { numRuns: 60, seed: 20261202 },
    );
  });

  // OPEN FINDING (fast-check counterexample [12, 490, 0.1], CI run of 2026-12-02): an extra beat 10% into an interval,
  // 10 beats before the end, is merged the wrong way — the real beat before it is dropped and the extra one kept
  // (the series differs from index 488 on). Fails today; turn it into `it` when the cleaner picks the right beat.
  it.fails('merges an extra beat 10% into an interval near the end of the series into the original interval', () => {
    const beats = sinusBeats(500, 12);
    const original = seriesOfBeats(beats);
    beats.splice(490, 0, beats[489]! + 0.1 * (beats[490]! - beats[489]!));
    const { series } = cleanRr(seriesOfBeats(beats));
    expect(Array.from(series.tMs)).toEqual(Array.from(original.tMs));
  });

  it('excludes out-of-range intervals and an isolated long artefact', () => {
    const beats = sinusBeats(400, 11);
    const input = seriesOfBeats(beats);
    const rr = Float64Array.from(input.rrMs);
    const t = Float64Array.from(input.tMs);
    // A 6 s dropout (beyond 3000 ms and more cycles than a run of missed beats) and a 1.4× pause that is no whole number of cycles.
    const shift1 = 6000 - rr[100]!;
    rr[100] = 6000;
    for (let i = 100; i < t.length; i++) t[i]! += shift1;
    const shift2 = 1.4 * rr[250]! - rr[250]!;
    rr[250] = rr[250]! + shift2;
    for (let i = 250; i < t.length; i++) t[i]! += shift2;
    const { series, report } = cleanRr({ tMs: t, rrMs: rr });
    expect(report).toMatchObject({
      n_out_of_range: 1,
      n_artefact: 1,
      n_ectopic: 0,
      n_excluded: 2,
      n_corrected: 0,
    });
    expect(series.rrMs.length).toBe(rr.length - 2);
    expect(Array.from(series.rrMs)).not.toContain(6000);
  });

  it('keeps exact accounting on arbitrary input: counts add up and excluded time equals the time removed', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 150, max: 3000, noNaN: true }), { minLength: 0, maxLength: 300 }),
        (rrs) => {
          let acc = 0;
          const t = Float64Array.from(rrs, (r) => (acc += r));
          const input = { tMs: t, rrMs: Float64Array.from(rrs) };
          const { series, report } = cleanRr(input);
          checkAccounting(report);
          expect(report.n_input).toBe(rrs.length);
          for (let i = 1; i < series.tMs.length; i++)
            expect(series.tMs[i]!).toBeGreaterThan(series.tMs[i - 1]!);
          for (let i = 0; i < series.rrMs.length; i++) {
            expect(series.rrMs[i]!).toBeGreaterThanOrEqual(250);
            expect(series.rrMs[i]!).toBeLessThanOrEqual(3000);
          }
          // Output time plus excluded time is the input time: nothing is invented or lost silently.
          const kept = keptIndices(input, series);
          let excludedMs = 0;
          for (let i = 0; i < rrs.length; i++) if (!kept.has(i)) excludedMs += rrs[i]!;
          const correctedOutMs = sum(series.rrMs) - [...kept].reduce((s, i) => s + rrs[i]!, 0);
          expect(excludedMs - correctedOutMs).toBeGreaterThanOrEqual(-1e-6);
          expect(Math.abs(sum(series.rrMs) + (excludedMs - correctedOutMs) - sum(rrs))).toBeLessThan(1e-6);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('respects gaps already in the input: no pattern is read across them', () => {
    // Beats at 0, 800, 1600, [2400 removed], 3200 (interval 800 after the gap), 3700 (short), 4800 …
    const beats = sinusBeats(200, 3);
    const input = seriesOfBeats(beats);
    const dropped = {
      tMs: new Float64Array(input.tMs.length - 1),
      rrMs: new Float64Array(input.rrMs.length - 1),
    };
    dropped.tMs.set(input.tMs.subarray(0, 50));
    dropped.tMs.set(input.tMs.subarray(51), 50);
    dropped.rrMs.set(input.rrMs.subarray(0, 50));
    dropped.rrMs.set(input.rrMs.subarray(51), 50);
    const { series, report } = cleanRr(dropped);
    expect(report.n_excluded).toBe(0);
    expect(followsGap(series, 50)).toBe(true);
  });

  it('rejects malformed input and options with a clear error', () => {
    const ok = seriesOfBeats([0, 800, 1600]);
    const bad = (f: () => unknown, re: RegExp): void => {
      expect(f).toThrow(HrvError);
      expect(f).toThrow(re);
    };
    bad(
      () => cleanRr({ tMs: Float64Array.of(800), rrMs: Float64Array.of(800, 800) }),
      /1 beat times but 2 intervals/,
    );
    bad(
      () => cleanRr({ tMs: Float64Array.of(800, 1600), rrMs: Float64Array.of(800, -5) }),
      /interval 1 is -5 ms/,
    );
    bad(
      () => cleanRr({ tMs: Float64Array.of(800, 700), rrMs: Float64Array.of(800, 800) }),
      /backwards at interval 1/,
    );
    bad(() => cleanRr(ok, { minRrMs: 3500 }), /minRrMs 3500 ≥ maxRrMs 3000/);
    bad(() => cleanRr(ok, { threshold: Number.NaN }), /threshold must be a positive number/);
    bad(() => cleanRr(ok, { method: 'kubios' as 'auto' }), /'auto' or 'none', got kubios/);
  });

  it('cleans a 24-hour series (100k intervals) of sinus rhythm without touching it', () => {
    // Its speed is a benchmark figure (`npm run bench`, "Cleaning 24 h"), not a timed test on a shared machine.
    const input = seriesOfBeats(sinusBeats(100_001, 9));
    const { report } = cleanRr(input);
    expect(report.n_input).toBe(100_000);
    expect(report.n_kept).toBe(100_000);
  });
});

type Rec = '100' | '105' | '119' | 'nsr001';
interface Figures {
  sdnn: number;
  rmssd: number;
}

function figures(series: RrSeries): Figures {
  const td = timeDomain(series);
  return { sdnn: td.sdnn_ms!, rmssd: td.rmssd_ms! };
}

function referenceNN(ref: Record<string, unknown>, rec: Rec, win: string): Figures {
  const records = ref.records as Record<
    string,
    { windows: Record<string, { NN: { neurokit2: { time: { SDNN: number; RMSSD: number } } } }> }
  >;
  const time = records[rec]!.windows[win]!.NN.neurokit2.time;
  return { sdnn: time.SDNN, rmssd: time.RMSSD };
}

function relErr(a: number, b: number): number {
  return a / b - 1;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

describe.skipIf(!hasSharedData())('cleanRr on annotated records (RR_all = every annotated interval)', () => {
  if (!hasSharedData()) console.log(SHARED_DATA_SKIP_REASON);

  function run(rec: Rec): { all: RrSeries; nn: RrSeries; cleaned: RrSeries; report: RrCleaningReport } {
    const beats = readBeats(rec);
    const originS = rec === 'nsr001' ? beats[0]!.tS : 0;
    const all = rrAllSeriesFromBeats(beats, { originS });
    const nn = nnSeriesFromBeats(beats, { originS });
    const { series, report } = cleanRr(all);
    checkAccounting(report);
    return { all, nn, cleaned: series, report };
  }

  it('119 (ventricular bigeminy, 444 PVCs): SDNN and RMSSD within 10% of the NN values', () => {
    const ref = readReferenceHrv();
    const { all, nn, cleaned, report } = run('119');
    console.log(`119 report ${JSON.stringify(report)}`);
    for (const [win, t1] of [
      ['first_5min', 300],
      ['whole', Infinity],
    ] as const) {
      const nnRef = referenceNN(ref, '119', win);
      // Our NN series from the annotations reproduces the reference, so the comparison is like for like.
      const nnOurs = figures(windowOf(nn, 0, t1));
      expect(Math.abs(relErr(nnOurs.sdnn, nnRef.sdnn))).toBeLessThan(1e-5);
      const raw = figures(windowOf(all, 0, t1));
      const ours = figures(windowOf(cleaned, 0, t1));
      console.log(
        `119 ${win}: cleaned SDNN ${ours.sdnn.toFixed(2)} RMSSD ${ours.rmssd.toFixed(2)} | NN ${nnRef.sdnn.toFixed(2)} ${nnRef.rmssd.toFixed(2)} ` +
          `(${pct(relErr(ours.sdnn, nnRef.sdnn))}, ${pct(relErr(ours.rmssd, nnRef.rmssd))}) | uncleaned ${raw.sdnn.toFixed(1)} ${raw.rmssd.toFixed(1)}`,
      );
      expect(Math.abs(relErr(ours.sdnn, nnRef.sdnn))).toBeLessThan(0.1);
      expect(Math.abs(relErr(ours.rmssd, nnRef.rmssd))).toBeLessThan(0.1);
    }
    // The excluded intervals are the ones touching a PVC: 888 of them in the annotations.
    expect(report.n_ectopic).toBeGreaterThanOrEqual(0.98 * (all.rrMs.length - nn.rrMs.length));
    expect(report.n_excluded).toBeLessThanOrEqual(1.02 * (all.rrMs.length - nn.rrMs.length));
  });

  it('105 (noisy, 41 PVCs): close to NN in the first 5 min; over the whole record close to NN without its 3 missed-beat intervals', () => {
    const ref = readReferenceHrv();
    const { nn, cleaned, report } = run('105');
    console.log(`105 report ${JSON.stringify(report)}`);
    const first = figures(windowOf(cleaned, 0, 300));
    const firstRef = referenceNN(ref, '105', 'first_5min');
    console.log(
      `105 first_5min: cleaned ${first.sdnn.toFixed(2)} ${first.rmssd.toFixed(2)} | NN ${firstRef.sdnn.toFixed(2)} ${firstRef.rmssd.toFixed(2)}`,
    );
    expect(Math.abs(relErr(first.sdnn, firstRef.sdnn))).toBeLessThan(0.05);
    expect(Math.abs(relErr(first.rmssd, firstRef.rmssd))).toBeLessThan(0.05);
    // The annotated NN series keeps three intervals of about twice the cycle (1.3–1.4 s at ~0.65 s: beats not
    // annotated in noise), which alone double its RMSSD; the cleaner splits them.
    const whole = figures(cleaned);
    const wholeRef = referenceNN(ref, '105', 'whole');
    const keep = Array.from(nn.rrMs.keys()).filter((i) => nn.rrMs[i]! <= 1250);
    const doubled = { size: nn.rrMs.length - keep.length };
    const nnNoMissed = figures({
      tMs: Float64Array.from(keep, (i) => nn.tMs[i]!),
      rrMs: Float64Array.from(keep, (i) => nn.rrMs[i]!),
    });
    console.log(
      `105 whole: cleaned ${whole.sdnn.toFixed(2)} ${whole.rmssd.toFixed(2)} | NN ${wholeRef.sdnn.toFixed(2)} ${wholeRef.rmssd.toFixed(2)} ` +
        `(${pct(relErr(whole.sdnn, wholeRef.sdnn))}, ${pct(relErr(whole.rmssd, wholeRef.rmssd))}) | NN without the ${doubled.size} doubled intervals ` +
        `${nnNoMissed.sdnn.toFixed(2)} ${nnNoMissed.rmssd.toFixed(2)} (${pct(relErr(whole.sdnn, nnNoMissed.sdnn))}, ${pct(relErr(whole.rmssd, nnNoMissed.rmssd))})`,
    );
    expect(doubled.size).toBe(3);
    expect(Math.abs(relErr(whole.sdnn, nnNoMissed.sdnn))).toBeLessThan(0.05);
    expect(Math.abs(relErr(whole.rmssd, nnNoMissed.rmssd))).toBeLessThan(0.05);
    expect(whole.rmssd).toBeLessThan(wholeRef.rmssd);
  });

  it('100 (sinus rhythm, 33 APBs): removes only the intervals around non-N beats and matches NN', () => {
    const ref = readReferenceHrv();
    const { all, nn, cleaned, report } = run('100');
    console.log(`100 report ${JSON.stringify(report)}`);
    // 68 of 2272 intervals touch an A or V beat; nothing else should go.
    expect(report.n_excluded).toBeLessThanOrEqual(all.rrMs.length - nn.rrMs.length + 5);
    for (const [win, t1] of [
      ['first_5min', 300],
      ['whole', Infinity],
    ] as const) {
      const ours = figures(windowOf(cleaned, 0, t1));
      const nnRef = referenceNN(ref, '100', win);
      console.log(
        `100 ${win}: cleaned ${ours.sdnn.toFixed(2)} ${ours.rmssd.toFixed(2)} | NN ${nnRef.sdnn.toFixed(2)} ${nnRef.rmssd.toFixed(2)}`,
      );
      expect(Math.abs(relErr(ours.sdnn, nnRef.sdnn))).toBeLessThan(0.03);
      expect(Math.abs(relErr(ours.rmssd, nnRef.rmssd))).toBeLessThan(0.03);
    }
  });

  it('nsr001 (23 h healthy sinus rhythm): removes under 0.5% of intervals and matches NN', () => {
    const ref = readReferenceHrv();
    const { all, nn, cleaned, report } = run('nsr001');
    console.log(
      `nsr001 report ${JSON.stringify(report)} (${pct(report.n_excluded / report.n_input)} excluded)`,
    );
    expect(report.n_excluded / report.n_input).toBeLessThan(0.005);
    const ours = figures(windowOf(cleaned, 0, 300));
    const nnRef = referenceNN(ref, 'nsr001', '0_300s');
    console.log(
      `nsr001 0-300 s: cleaned ${ours.sdnn.toFixed(2)} ${ours.rmssd.toFixed(2)} | NN ${nnRef.sdnn.toFixed(2)} ${nnRef.rmssd.toFixed(2)}`,
    );
    expect(Math.abs(relErr(ours.sdnn, nnRef.sdnn))).toBeLessThan(0.03);
    expect(Math.abs(relErr(ours.rmssd, nnRef.rmssd))).toBeLessThan(0.03);
    // Whole day: the annotated NN series keeps dropouts of up to 7.5 s that no HRV analysis should include;
    // compare with it restricted to the plausible range.
    const keep = Array.from(nn.rrMs.keys()).filter((i) => nn.rrMs[i]! <= 2000);
    const nnPlausible = figures({
      tMs: Float64Array.from(keep, (i) => nn.tMs[i]!),
      rrMs: Float64Array.from(keep, (i) => nn.rrMs[i]!),
    });
    const whole = figures(cleaned);
    console.log(
      `nsr001 whole: cleaned ${whole.sdnn.toFixed(2)} ${whole.rmssd.toFixed(2)} | NN ≤ 2 s ${nnPlausible.sdnn.toFixed(2)} ${nnPlausible.rmssd.toFixed(2)} | uncleaned ${figures(all).sdnn.toFixed(2)} ${figures(all).rmssd.toFixed(2)}`,
    );
    expect(Math.abs(relErr(whole.sdnn, nnPlausible.sdnn))).toBeLessThan(0.03);
    expect(Math.abs(relErr(whole.rmssd, nnPlausible.rmssd))).toBeLessThan(0.05);
  });
});

describe('cleanRr regression', () => {
  it('never splits a long interval into parts shorter than the physiological minimum', () => {
    // Found by the property test: 425 ms beside two 250 ms intervals looked like a missed beat.
    const rr = [425.00000000000006, 250, 250];
    let acc = 0;
    const { series } = cleanRr({
      tMs: Float64Array.from(rr, (r) => (acc += r)),
      rrMs: Float64Array.from(rr),
    });
    for (const v of series.rrMs) expect(v).toBeGreaterThanOrEqual(250);
  });
});

describe('cleanRr: runs of missed beats, slow rhythms and configurable limits', () => {
  /** Beat times (ms) of a steady sinus rhythm, SDNN ≈ 21 ms, around `mean` ms. */
  function steadyBeats(n: number, seed: number, mean = 800): number[] {
    const rnd = prng(seed);
    const beats = [0];
    let t = 0;
    for (let k = 1; k < n; k++) {
      t += mean + 25 * Math.sin(2 * Math.PI * 0.25 * (t / 1000)) + 10 * (rnd() + rnd() - 1);
      beats.push(t);
    }
    return beats;
  }

  it('finds two or more missed beats in a row and runs of doubled intervals, and restores SDNN', () => {
    const beats = steadyBeats(700, 21);
    const truth = timeDomain(seriesOfBeats(beats));
    const drop = new Set<number>();
    // Two missed beats in a row (one interval of 3 cycles), three in a row (4 cycles) …
    [100, 101, 300, 301, 302].forEach((k) => drop.add(k));
    // … and a stretch where every other beat is lost: 12 doubled intervals in a row (as a strap that drops beats).
    for (let k = 450; k < 474; k += 2) drop.add(k);
    const lossy = beats.filter((_, k) => !drop.has(k));
    const before = timeDomain(seriesOfBeats(lossy));
    const { series, report } = cleanRr(seriesOfBeats(lossy));
    const after = timeDomain(series);
    console.log(`missed runs: SDNN truth ${truth.sdnn_ms!.toFixed(1)}, lossy ${before.sdnn_ms!.toFixed(1)}, cleaned ${after.sdnn_ms!.toFixed(1)}; runs ${JSON.stringify(report.missed_beat_runs)}`);
    expect(before.sdnn_ms!).toBeGreaterThan(3 * truth.sdnn_ms!);
    expect(Math.abs(after.sdnn_ms! / truth.sdnn_ms! - 1)).toBeLessThan(0.1);
    expect(Math.abs(after.rmssd_ms! / truth.rmssd_ms! - 1)).toBeLessThan(0.1);
    const runs = report.missed_beat_runs;
    expect(runs.map((r) => r.n_missed).reduce((a, b) => a + b, 0)).toBe(drop.size);
    expect(runs.some((r) => r.n_intervals === 12 && r.n_missed === 12)).toBe(true);
    expect(runs.some((r) => r.n_intervals === 1 && r.n_missed === 3)).toBe(true);
  });

  it('keeps a slow rhythm below 30 bpm instead of excluding everything', () => {
    const input = seriesOfBeats(steadyBeats(200, 22, 2200));
    const { series, report } = cleanRr(input);
    expect(report.n_out_of_range).toBe(0);
    expect(series.rrMs.length).toBe(input.rrMs.length);
    // The limits are options: a tighter one excludes them, as asked.
    expect(cleanRr(input, { maxRrMs: 2000 }).report.n_out_of_range).toBe(input.rrMs.length);
  });

  it('does not split a genuine 1.8× pause into invented beats; keeps it as recorded with keepPauses', () => {
    const beats = steadyBeats(400, 24);
    // A pause of 1.8 cycles at beat 200 (a non-conducted beat, as in MIT-BIH 118): later beats shift.
    const extra = 0.8 * (beats[200]! - beats[199]!);
    for (let k = 200; k < beats.length; k++) beats[k]! += extra;
    const input = seriesOfBeats(beats);
    const { series, report } = cleanRr(input);
    expect(report.missed_beat_runs).toEqual([]);
    expect(series.rrMs.length).toBe(input.rrMs.length - 1);
    const kept = cleanRr(input, { keepPauses: true });
    expect(kept.report.n_excluded).toBe(0);
    expect(Array.from(kept.series.rrMs)).toEqual(Array.from(input.rrMs));
  });

  it('excludes a PVC without compensatory pause (short + short ≈ 1.12 cycles) instead of merging it as an extra beat', () => {
    const beats = steadyBeats(400, 25);
    // As in MIT-BIH 805: N–V 0.47 cycle, V–N 0.65 cycle, then the rhythm goes on from the late N beat.
    const cycle = beats[201]! - beats[200]!;
    const shift = 1.12 * cycle - cycle;
    for (let k = 201; k < beats.length; k++) beats[k]! += shift;
    beats.splice(201, 0, beats[200]! + 0.47 * cycle);
    const { report } = cleanRr(seriesOfBeats(beats));
    expect(report.n_corrected).toBe(0);
    expect(report.n_ectopic).toBeGreaterThanOrEqual(2);
  });

  it('does not split a sustained 2:1 rhythm (longer than the coarse reference) into invented beats', () => {
    const beats = steadyBeats(400, 23);
    // From beat 100 on every other beat is gone for good (e.g. a 2:1 block): the rhythm is now the long one.
    const halved = beats.filter((_, k) => k < 100 || k % 2 === 0);
    const { report } = cleanRr(seriesOfBeats(halved));
    const split = report.missed_beat_runs.reduce((a, r) => a + r.n_intervals, 0);
    expect(split).toBeLessThan(40);
  });
});
