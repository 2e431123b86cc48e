import { describe, expect, it } from 'vitest';
import { hasSharedData, readSharedText, SHARED_DATA_SKIP_REASON } from '../test-support/shared-data.js';
import { prng } from './prng.js';
import { assessRhythm } from './rhythm.js';
import { cleanRr } from './rr-clean.js';
import { timeDomain } from './time-domain.js';
import type { RrSeries } from './types.js';

function series(rr: readonly number[]): RrSeries {
  let t = 0;
  return { tMs: Float64Array.from(rr, (r) => (t += r)), rrMs: Float64Array.from(rr) };
}

/** Independent intervals, uniformly 600–1100 ms: an irregularly irregular (AF-like) ventricular response. */
function afIntervals(n: number, seed: number): number[] {
  const rnd = prng(seed);
  return Array.from({ length: n }, () => 600 + 500 * rnd());
}

/** Sinus rhythm around `mean` ms with a smooth respiratory oscillation of ±amp ms at f Hz, and small noise. */
function sinusIntervals(n: number, seed: number, mean = 850, amp = 35, f = 0.25): number[] {
  const rnd = prng(seed);
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    const rr = mean + amp * Math.sin(2 * Math.PI * f * (t / 1000)) + 8 * (rnd() + rnd() - 1);
    t += rr;
    out.push(rr);
  }
  return out;
}

/** Ventricular bigeminy: normal beat, premature beat at 60% of the cycle, full compensatory pause. */
function bigeminy(n: number, seed: number): number[] {
  const base = sinusIntervals(n, seed);
  const out: number[] = [];
  for (let i = 0; i + 1 < n; i += 2) {
    const cycle = base[i]! + base[i + 1]!;
    out.push(0.6 * base[i]!, cycle - 0.6 * base[i]!);
  }
  return out;
}

/** Trigeminy: two normal intervals then a premature beat and its pause. */
function trigeminy(n: number, seed: number): number[] {
  const base = sinusIntervals(n, seed);
  const out: number[] = [];
  for (let i = 0; i + 2 < n; i += 3) {
    out.push(base[i]!);
    out.push(0.65 * base[i + 1]!, base[i + 1]! + base[i + 2]! - 0.65 * base[i + 1]!);
  }
  return out;
}

describe('assessRhythm (suspected AF from RR irregularity after ectopic removal)', () => {
  it('flags independent (AF-like) intervals and reports the irregularity behind it', () => {
    const a = assessRhythm(series(afIntervals(400, 1)));
    expect(a.af_suspected).toBe(true);
    expect(a.irregularity!).toBeGreaterThan(1.5 * a.irregularity_threshold);
    expect(a.delta_autocorr!).toBeLessThan(-0.3);
  });

  it('does not flag sinus rhythm, nor a strong but smooth sinus arrhythmia (±150 ms)', () => {
    expect(assessRhythm(series(sinusIntervals(400, 2))).af_suspected).toBe(false);
    const strong = assessRhythm(series(sinusIntervals(400, 3, 1100, 150, 0.2)));
    expect(strong.irregularity!).toBeGreaterThan(strong.irregularity_threshold);
    expect(strong.af_suspected).toBe(false);
  });

  it('does not flag ventricular bigeminy or trigeminy (regular irregularity)', () => {
    for (const rr of [bigeminy(400, 4), trigeminy(400, 5)]) {
      const a = assessRhythm(series(rr));
      expect(a.af_suspected).toBe(false);
      expect(a.ectopic_fraction).toBeGreaterThan(0.5);
    }
  });

  it('says nothing (null, not flagged) on too few intervals', () => {
    const a = assessRhythm(series(afIntervals(20, 6)));
    expect(a.irregularity).toBeNull();
    expect(a.af_suspected).toBe(false);
  });
});

describe('cleanRr in an irregular rhythm', () => {
  it('stops "correcting" AF: keeps its intervals, reports the AF span, and RMSSD stays that of the input', () => {
    const rr = [...sinusIntervals(360, 7), ...afIntervals(400, 8)];
    const s = series(rr);
    const { series: out, report } = cleanRr(s);
    expect(report.af_suspected).toBe(true);
    expect(report.af_spans_s.length).toBeGreaterThan(0);
    expect(report.n_af_uncorrected).toBeGreaterThan(300);
    // The AF part reaches the output untouched: its RMSSD is the input's.
    const afStart = report.af_spans_s[0]![0] * 1000;
    const pick = (x: RrSeries) => {
      const idx = Array.from(x.tMs.keys()).filter((i) => x.tMs[i]! - x.rrMs[i]! >= afStart);
      return { tMs: Float64Array.from(idx, (i) => x.tMs[i]!), rrMs: Float64Array.from(idx, (i) => x.rrMs[i]!) };
    };
    expect(timeDomain(pick(out)).rmssd_ms).toBeCloseTo(timeDomain(pick(s)).rmssd_ms!, 6);
  });

  it('still cleans bigeminy (no AF flag there)', () => {
    const { report } = cleanRr(series(bigeminy(600, 9)));
    expect(report.af_suspected).toBe(false);
    expect(report.n_ectopic).toBeGreaterThan(500);
  });
});

/** Every interval between annotated beats of a record (beats_<rec>.csv), and the AF share of each 300-s block. */
function record(rec: string): { all: RrSeries; afShare: number[] } {
  const BEAT = new Set('N L R B A a J S V r F e j n E / f Q ?'.split(' '));
  const rows = readSharedText(`beats_${rec}.csv`)
    .split(/\r?\n/)
    .filter((l) => /^\d/.test(l))
    .map((l) => l.split(','))
    .filter((r) => BEAT.has((r[2] ?? '').trim()));
  const tS = rows.map((r) => Number(r[0]));
  const rhythm = readSharedText(`other_annotations_${rec}.csv`)
    .split(/\r?\n/)
    .filter((l) => /^\d/.test(l))
    .map((l) => l.split(','))
    .filter((r) => (r[3] ?? '').startsWith('('))
    .map((r) => [Number(r[0]), r[3]!.trim()] as const);
  const inAf = (t: number) => {
    let cur = '(N';
    for (const [s, r] of rhythm) if (s <= t) cur = r;
    return cur === '(AFIB';
  };
  const t: number[] = [];
  const rr: number[] = [];
  const blocks: Array<[number, number]> = [];
  for (let i = 1; i < tS.length; i++) {
    t.push(tS[i]! * 1000);
    rr.push((tS[i]! - tS[i - 1]!) * 1000);
    const k = Math.floor(tS[i]! / 300);
    blocks[k] ??= [0, 0];
    blocks[k][0] += inAf(tS[i]!) ? 1 : 0;
    blocks[k][1] += 1;
  }
  return { all: { tMs: Float64Array.from(t), rrMs: Float64Array.from(rr) }, afShare: blocks.map(([a, n]) => a / n) };
}

function block(s: RrSeries, k: number): RrSeries {
  const idx = Array.from(s.tMs.keys()).filter((i) => s.tMs[i]! - s.rrMs[i]! >= k * 300_000 && s.tMs[i]! < (k + 1) * 300_000);
  return { tMs: Float64Array.from(idx, (i) => s.tMs[i]!), rrMs: Float64Array.from(idx, (i) => s.rrMs[i]!) };
}

describe.skipIf(!hasSharedData())('assessRhythm on MIT-BIH records (5-minute blocks of every annotated interval)', () => {
  if (!hasSharedData()) console.log(SHARED_DATA_SKIP_REASON);

  it('flags every block that is mostly AF in 201, 203, 210 and 221', () => {
    for (const rec of ['201', '203', '210', '221']) {
      const { all, afShare } = record(rec);
      afShare.forEach((share, k) => {
        const b = block(all, k);
        // The last block of a 30-min record holds a few seconds only.
        if (share < 0.9 || b.rrMs.length < 100) return;
        const a = assessRhythm(b);
        expect(a.af_suspected, `${rec} block ${k}: irregularity ${a.irregularity}`).toBe(true);
      });
    }
  });

  it('never flags 119 (ventricular bigeminy and trigeminy) nor sinus records 100, 105, 116', () => {
    for (const rec of ['119', '100', '105', '116']) {
      const { all, afShare } = record(rec);
      afShare.forEach((_, k) => {
        const a = assessRhythm(block(all, k));
        expect(a.af_suspected, `${rec} block ${k}: irregularity ${a.irregularity}`).toBe(false);
      });
    }
  });
});
