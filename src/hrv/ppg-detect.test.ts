import { describe, expect, it } from 'vitest';
import { HrvError } from './errors.js';
import {
  detectPpg,
  detectPpgBeats,
  ppgAgreement,
  ppgIntervals,
  rankPpgChannels,
  rrSummary,
} from './ppg-detect.js';
import { resampleEven } from './resample-even.js';
import {
  hasSharedData,
  readReferenceJson,
  readRrColumn,
  readSharedText,
  SHARED_DATA_SKIP_REASON,
} from '../test-support/shared-data.js';
import { prng } from './prng.js';

const gauss = (rand: () => number): number =>
  Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());

interface Synthetic {
  tS: Float64Array;
  values: Float64Array;
  /** Systolic peak times of the noiseless pulse, s. */
  truthS: number[];
}

/**
 * A camera-like PPG: beats with respiratory and random variation of the interval, each a sharp systolic
 * wave plus a dicrotic wave 40% as high (the extra bump that fools plain peak pickers), sampled at
 * jittered frame times with dropped frames, plus baseline wander and white noise. `intensity` flips it as
 * a finger on a camera does.
 */
function syntheticPpg(opts: {
  seed: number;
  durationS: number;
  meanRrS: number;
  frameS: number | null;
  evenHz?: number;
  intensity: boolean;
  noise: number;
  /** Height of the dicrotic wave relative to the systolic one (default 0.4). */
  dicrotic?: number;
  /** Every `weakEvery`-th beat has only `weakHeight` of the normal height (default: none). */
  weakEvery?: number;
  weakHeight?: number;
}): Synthetic {
  const rand = prng(opts.seed);
  const onsets: number[] = [];
  for (let t = 0.4; t < opts.durationS + 2;) {
    onsets.push(t);
    t += opts.meanRrS * (1 + 0.06 * Math.sin(2 * Math.PI * 0.25 * t) + 0.03 * gauss(rand));
  }
  // The dicrotic wave follows the systolic peak by about a third of the beat (systole shortens as the rate rises).
  const dicroticS = 0.36 * opts.meanRrS;
  const dicroticHeight = opts.dicrotic ?? 0.4;
  const height = onsets.map((_, i) => (opts.weakEvery && i % opts.weakEvery === 0 ? opts.weakHeight! : 1));
  const pulse = (t: number): number => {
    let v = 0;
    for (let i = 0; i < onsets.length; i++) {
      const o = onsets[i]!;
      if (t < o - 0.5 || t > o + 1.2) continue;
      v +=
        height[i]! *
        (Math.exp(-(((t - o) / 0.09) ** 2) / 2) +
          dicroticHeight * Math.exp(-(((t - o - dicroticS) / 0.12) ** 2) / 2));
    }
    return v;
  };
  // Truth: the maximum of the noiseless pulse near each onset, on a 1 ms grid.
  const truthS: number[] = [];
  for (const o of onsets) {
    if (o < 1 || o > opts.durationS - 1) continue;
    let best = o;
    for (let t = o - 0.1; t <= o + 0.1; t += 0.001) if (pulse(t) > pulse(best)) best = t;
    truthS.push(best);
  }
  const times: number[] = [];
  if (opts.frameS === null) {
    for (let i = 0; i / opts.evenHz! <= opts.durationS; i++) times.push(i / opts.evenHz!);
  } else {
    for (let t = 0; t <= opts.durationS;) {
      // 5% of frames dropped; the rest arrive up to ±30% of a frame early or late.
      if (rand() > 0.05) times.push(t + (rand() - 0.5) * 0.6 * opts.frameS);
      t += opts.frameS;
    }
  }
  const tS = Float64Array.from(times.sort((a, b) => a - b));
  const values = tS.map((t) => {
    const wander =
      1.5 * Math.sin(2 * Math.PI * 0.07 * t) + 0.5 * Math.sin(2 * Math.PI * 0.23 * t + 1) + 0.02 * t;
    const v = pulse(t) + wander + opts.noise * gauss(rand);
    return opts.intensity ? 200 - 3 * v : v;
  });
  return { tS, values, truthS };
}

/**
 * Every true beat in [fromS, toS] has a detection within tolerance, and no detection in that span lacks a
 * true beat; beats near the ends of the signal are left out, where the filters have no context.
 */
function expectOneToOne(
  beatsS: Float64Array,
  truthS: number[],
  toleranceS: number,
  fromS: number,
  toS: number,
): void {
  const nearest = (t: number, xs: ArrayLike<number>): number => {
    let best = Infinity;
    for (let i = 0; i < xs.length; i++) best = Math.min(best, Math.abs(xs[i]! - t));
    return best;
  };
  const truth = truthS.filter((t) => t >= fromS && t <= toS);
  const errors = truth.map((t) => nearest(t, beatsS));
  const missed = truth.filter((_, i) => errors[i]! > toleranceS);
  const extra = Array.from(beatsS).filter((b) => b >= fromS && b <= toS && nearest(b, truthS) > toleranceS);
  expect({ missed: missed.map((t) => t.toFixed(2)), extra: extra.map((t) => t.toFixed(2)) }).toEqual({
    missed: [],
    extra: [],
  });
  // Detections must also be one per beat: no two within one true interval.
  const inside = Array.from(beatsS).filter((b) => b >= fromS && b <= toS);
  expect(inside.length).toBeLessThanOrEqual(
    truthS.filter((t) => t >= fromS - toleranceS && t <= toS + toleranceS).length,
  );
  expect(Math.max(...errors)).toBeLessThan(toleranceS);
}

describe('detectPpgBeats on synthetic pulses', () => {
  it('finds every beat of jittered camera frames with noise and baseline wander, within 30 ms', () => {
    for (const seed of [1, 2, 3]) {
      const s = syntheticPpg({
        seed,
        durationS: 60,
        meanRrS: 0.85,
        frameS: 1 / 30,
        intensity: true,
        noise: 0.05,
      });
      const det = detectPpg(s.tS, s.values);
      expect(det.polarity).toBe('intensity');
      expectOneToOne(det.beatsS, s.truthS, 0.03, 1, 59);
    }
  });

  it('does not count a dicrotic wave almost as tall as the systolic peak as a beat', () => {
    // Camera PPG often shows this; it forms a block of interest of its own in Elgendi's detector.
    for (const seed of [21, 22]) {
      const s = syntheticPpg({
        seed,
        durationS: 60,
        meanRrS: 0.9,
        frameS: 1 / 30,
        intensity: true,
        noise: 0.05,
        dicrotic: 0.8,
      });
      expectOneToOne(detectPpgBeats(s.tS, s.values), s.truthS, 0.03, 1, 59);
    }
  });

  it('finds weak beats between strong ones (search-back)', () => {
    const s = syntheticPpg({
      seed: 31,
      durationS: 60,
      meanRrS: 0.8,
      frameS: 1 / 30,
      intensity: true,
      noise: 0.02,
      weakEvery: 5,
      weakHeight: 0.2,
    });
    // A weak beat has a fifth of the signal against the same noise, so it is placed less exactly (one here
    // falls next to a dropped frame): 40 ms rather than 30.
    expectOneToOne(detectPpgBeats(s.tS, s.values), s.truthS, 0.04, 1, 59);
  });

  it('rates a regular pulse as good quality and noise as poor', () => {
    const s = syntheticPpg({
      seed: 8,
      durationS: 40,
      meanRrS: 0.9,
      frameS: 1 / 30,
      intensity: true,
      noise: 0.05,
    });
    const good = detectPpg(s.tS, s.values).quality;
    expect(Math.min(...good)).toBeGreaterThan(0.6);
    const rand = prng(12);
    const noise = detectPpg(
      s.tS,
      s.values.map(() => gauss(rand)),
    );
    const sorted = Array.from(noise.quality).sort((a, b) => a - b);
    expect(sorted[sorted.length >> 1]).toBeLessThan(0.35);
  });

  it('handles fast heart rates (150 bpm) without merging beats', () => {
    const s = syntheticPpg({
      seed: 7,
      durationS: 40,
      meanRrS: 0.4,
      frameS: 1 / 30,
      intensity: true,
      noise: 0.03,
    });
    expectOneToOne(detectPpgBeats(s.tS, s.values), s.truthS, 0.03, 1, 39);
  });

  it('handles evenly sampled volume-polarity PPG at 250 Hz (decimated without aliasing)', () => {
    const s = syntheticPpg({
      seed: 4,
      durationS: 60,
      meanRrS: 1.1,
      frameS: null,
      evenHz: 250,
      intensity: false,
      noise: 0.05,
    });
    const det = detectPpg(s.tS, s.values);
    expect(det.polarity).toBe('volume');
    expectOneToOne(det.beatsS, s.truthS, 0.02, 1, 59);
  });

  it('uses the polarity it is told: the wrong one moves beats off the systolic peak', () => {
    const s = syntheticPpg({
      seed: 5,
      durationS: 30,
      meanRrS: 0.9,
      frameS: 1 / 30,
      intensity: true,
      noise: 0.02,
    });
    expectOneToOne(detectPpgBeats(s.tS, s.values, { polarity: 'intensity' }), s.truthS, 0.03, 1, 29);
    const wrong = detectPpgBeats(s.tS, s.values, { polarity: 'volume' });
    const offsets = s.truthS.map((t) => Math.min(...Array.from(wrong, (b) => Math.abs(b - t))));
    expect(offsets.filter((d) => d > 0.05).length).toBeGreaterThan(s.truthS.length / 2);
  });

  it('rejects invalid input with a message naming the problem', () => {
    const t = Float64Array.from({ length: 600 }, (_, i) => i / 30);
    const v = t.map((x) => Math.sin(2 * Math.PI * x));
    expect(() => detectPpgBeats(t, v.subarray(1))).toThrow(/differ in length/);
    const back = t.slice();
    back[10] = back[9]!;
    expect(() => detectPpgBeats(back, v)).toThrow(/times must increase: sample 10/);
    const nan = v.slice();
    nan[3] = Number.NaN;
    expect(() => detectPpgBeats(t, nan)).toThrow(/value 3 is not a finite number/);
    expect(() => detectPpgBeats(t.subarray(0, 60), v.subarray(0, 60))).toThrow(/too short/);
    const slow = Float64Array.from({ length: 100 }, (_, i) => i / 5);
    expect(() => detectPpgBeats(slow, slow)).toThrow(/sampling rate 5\.0 Hz is too low/);
    const thrown = ((): unknown => {
      try {
        detectPpgBeats(back, v);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(thrown).toBeInstanceOf(HrvError);
    expect((thrown as HrvError).code).toBe('HRV_ERR_INPUT');
  });
});

describe('resampleEven', () => {
  it('interpolates linearly between uneven samples and ends at the last input time', () => {
    const r = resampleEven(Float64Array.of(0, 0.03, 0.1, 0.11, 0.2), Float64Array.of(0, 3, 10, 11, 20), 100);
    expect(r.values.length).toBe(21);
    r.values.forEach((v, k) => expect(v).toBeCloseTo(k, 9));
  });
});

describe('ppgIntervals and rrSummary', () => {
  it('leaves out intervals of a missed or extra beat as gaps and keeps successive differences inside runs', () => {
    const beats: number[] = [0];
    const rr = [0.8, 0.82, 0.78, 0.8, 1.6, 0.8, 0.81, 0.4, 0.4, 0.79, 0.8, 0.82];
    for (const r of rr) beats.push(beats[beats.length - 1]! + r);
    const { series, excluded } = ppgIntervals(Float64Array.from(beats));
    expect(excluded).toBe(3);
    expect(Array.from(series.rrMs, Math.round)).toEqual([800, 820, 780, 800, 800, 810, 790, 800, 820]);
    const sum = rrSummary(series);
    expect(sum.n).toBe(9);
    expect(sum.mean_rr_ms).toBeCloseTo(802.2222, 3);
    // Differences only inside the runs [800 820 780 800] [800 810] [790 800 820].
    const d = [20, -40, 20, 10, 10, 20];
    expect(sum.rmssd_ms).toBeCloseTo(Math.sqrt(d.reduce((s, x) => s + x * x, 0) / d.length), 6);
  });

  it('summarises a plain interval list without gaps, and gives null where undefined', () => {
    expect(rrSummary([1000, 1100, 1000])).toEqual({ n: 3, mean_rr_ms: 1033.3333333333333, rmssd_ms: 100 });
    expect(rrSummary([900])).toEqual({ n: 1, mean_rr_ms: 900, rmssd_ms: null });
    expect(rrSummary([])).toEqual({ n: 0, mean_rr_ms: null, rmssd_ms: null });
  });
});

describe('ppgAgreement', () => {
  it('finds the clock offset of a reference RR list and scores missed, extra and mistimed beats', () => {
    const rr = Array.from({ length: 80 }, (_, i) => 800 + 60 * Math.sin(i / 3));
    const truth: number[] = [0];
    for (const r of rr) truth.push(truth[truth.length - 1]! + r / 1000);
    // The camera clock starts 1.234 s after the strap's; beat 10 is missed, one extra beat, beat 40 is 30 ms late.
    const beats = truth.map((t) => t + 1.234).filter((_, i) => i !== 10);
    beats.push(1.234 + (truth[20]! + truth[21]!) / 2);
    beats.sort((a, b) => a - b);
    const late = beats.findIndex((t) => Math.abs(t - 1.234 - truth[40]!) < 1e-9);
    beats[late]! += 0.03;
    const a = ppgAgreement(Float64Array.from(beats), rr);
    expect(a.offsetS).toBeCloseTo(1.234, 6);
    expect(a.referenceBeats).toBe(81);
    expect(a.matched).toBe(80);
    expect(a.sensitivity).toBeCloseTo(80 / 81, 9);
    expect(a.ppv).toBeCloseTo(80 / 81, 9);
    // 77 intervals join consecutive matches (the missed beat breaks two, the extra one a third); two of
    // them touch the late beat (+30 and −30 ms), the rest are exact.
    expect(a.intervalMedianErrorMs).toBeCloseTo(0, 9);
    expect(a.intervalRmsErrorMs).toBeCloseTo(Math.sqrt((2 * 30 * 30) / 77), 6);
  });

  it('rejects a reference list with a non-positive interval', () => {
    expect(() => ppgAgreement(Float64Array.of(0, 1, 2), [800, 0, 800])).toThrow(/reference interval 1/);
  });
});

describe('rankPpgChannels', () => {
  it('prefers the channel with a regular pulse and passes over dark and clipped ones', () => {
    const s = syntheticPpg({
      seed: 9,
      durationS: 30,
      meanRrS: 0.8,
      frameS: 1 / 30,
      intensity: true,
      noise: 0.02,
    });
    const rand = prng(11);
    const channels = {
      R: s.values,
      G: s.values.map(() => 40 + 3 * gauss(rand)),
      B: s.values.map(() => 0.01 * rand()),
      W: s.values.map((v) => Math.min(255, v + 60)),
    };
    const ranked = rankPpgChannels(s.tS, channels);
    expect(ranked[0]).toMatchObject({ name: 'R' });
    expect(ranked[0]!.periodicity).toBeGreaterThan(0.7);
    expect(ranked[1]).toMatchObject({ name: 'G' });
    expect(ranked[1]!.periodicity).toBeLessThan(0.4);
    expect(ranked.find((c) => c.name === 'B')).toMatchObject({ periodicity: null, rejected: 'dark' });
    expect(ranked.find((c) => c.name === 'W')).toMatchObject({ periodicity: null, rejected: 'clipped' });
  });
});

interface NkSubject {
  channel: 'R' | 'G' | 'B';
  ppg_mean_ibi_ms: number;
  polar_mean_rr_ms: number;
  ppg_RMSSD: number;
  polar_RMSSD: number;
}

/** Reads a Welltory recording: frame times and the R, G, B frame means. */
function readWelltory(id: string): { tS: Float64Array; channels: Record<'R' | 'G' | 'B', Float64Array> } {
  const rows = readSharedText(`ppg_welltory_${id}.csv`)
    .split(/\r?\n/)
    .filter((l) => /^[0-9]/.test(l))
    .map((l) => l.split(',').map(Number));
  const col = (k: number): Float64Array => Float64Array.from(rows, (r) => r[k]!);
  return { tS: col(0), channels: { R: col(1), G: col(2), B: col(3) } };
}

describe.skipIf(!hasSharedData())('Welltory camera PPG against the Polar H10 RR', () => {
  if (!hasSharedData()) console.log(SHARED_DATA_SKIP_REASON);

  it('mean interval and RMSSD are closer to the chest strap than NeuroKit2 on most recordings', () => {
    const ref = readReferenceJson('ppg_reference.json') as { subjects: Record<string, NkSubject> };
    const rows: string[] = [];
    let closerMean = 0;
    let closerRmssd = 0;
    let beatLevelGood = 0;
    const within3 = { nk: 0, ours: 0, oursOwnChannel: 0 };
    for (let s = 1; s <= 10; s++) {
      const id = `s${String(s).padStart(2, '0')}`;
      const nk = ref.subjects[id]!;
      const { tS, channels } = readWelltory(id);
      const polarRr = readRrColumn(`rr_welltory_${id}.csv`);
      const polar = rrSummary(polarRr);
      expect(polar.mean_rr_ms).toBeCloseTo(nk.polar_mean_rr_ms, 6);
      expect(polar.rmssd_ms).toBeCloseTo(nk.polar_RMSSD, 6);
      const err = (x: number): number => (100 * (x - polar.mean_rr_ms!)) / polar.mean_rr_ms!;

      // First on the channel NeuroKit2's run used, so the comparison is of detectors only.
      const det = detectPpg(tS, channels[nk.channel]);
      // A finger on the lens darkens the frame with each pulse: the detector must see that by itself.
      expect(det.polarity).toBe('intensity');
      const { series, excluded } = ppgIntervals(det.beatsS);
      const ours = rrSummary(series);
      const agree = ppgAgreement(det.beatsS, polarRr);
      const oursErr = err(ours.mean_rr_ms!);
      const nkErr = err(nk.ppg_mean_ibi_ms);
      if (Math.abs(oursErr) <= Math.abs(nkErr)) closerMean++;
      if (Math.abs(ours.rmssd_ms! - polar.rmssd_ms!) < Math.abs(nk.ppg_RMSSD - polar.rmssd_ms!))
        closerRmssd++;
      if (Math.abs(nkErr) <= 3) {
        within3.nk++;
        // Where NeuroKit2 gets within 3% of the chest strap, so must we.
        expect(Math.abs(oursErr), `${id} mean interval error`).toBeLessThanOrEqual(3);
      }
      if (Math.abs(oursErr) <= 3) within3.ours++;
      if (agree.sensitivity >= 0.9 && agree.ppv >= 0.9) beatLevelGood++;
      if (agree.matched >= 50) {
        // Matched intervals carry no systematic bias: the two clocks agree and beats are not shifted.
        expect(Math.abs(agree.intervalMedianErrorMs!), `${id} interval bias`).toBeLessThan(10);
      }

      // Then with our own channel choice, as a user of the library would run it.
      const own = rankPpgChannels(tS, channels)[0]!.name as 'R' | 'G' | 'B';
      const ownSummary = rrSummary(ppgIntervals(detectPpgBeats(tS, channels[own])).series);
      if (Math.abs(err(ownSummary.mean_rr_ms!)) <= 3) within3.oursOwnChannel++;

      rows.push(
        `${id} ${nk.channel} | mean RR ours ${ours.mean_rr_ms!.toFixed(1)} (${oursErr.toFixed(1)}%) ` +
          `NK2 ${nk.ppg_mean_ibi_ms.toFixed(1)} (${nkErr.toFixed(1)}%) Polar ${polar.mean_rr_ms!.toFixed(1)} | ` +
          `RMSSD ours ${ours.rmssd_ms!.toFixed(1)} NK2 ${nk.ppg_RMSSD.toFixed(1)} Polar ${polar.rmssd_ms!.toFixed(1)} | ` +
          `excl ${excluded} | beats Se ${agree.sensitivity.toFixed(3)} PPV ${agree.ppv.toFixed(3)} ` +
          `interval RMS err ${agree.intervalRmsErrorMs?.toFixed(1)} | own channel ${own}: ` +
          `${ownSummary.mean_rr_ms!.toFixed(1)} / ${ownSummary.rmssd_ms!.toFixed(1)}`,
      );
    }
    console.log(
      `PPG vs Polar H10 (ms):\n${rows.join('\n')}\nwithin 3%: ours ${within3.ours}/10 ` +
        `(own channel ${within3.oursOwnChannel}/10), NeuroKit2 ${within3.nk}/10`,
    );
    expect(closerMean).toBeGreaterThanOrEqual(6);
    expect(closerRmssd).toBeGreaterThanOrEqual(8);
    expect(within3.ours).toBeGreaterThanOrEqual(within3.nk);
    expect(within3.oursOwnChannel).toBeGreaterThanOrEqual(within3.ours);
    // Beat by beat against the strap (after lining up the clocks): ≥ 90% found and ≥ 90% real on 8 of 10.
    expect(beatLevelGood).toBeGreaterThanOrEqual(8);
  });
});
