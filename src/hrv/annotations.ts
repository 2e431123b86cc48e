/**
 * RR series from annotated (or detected and labelled) beats, as the reference data defines them: the NN
 * series keeps an interval only when both its beats are normal, and a dropped interval leaves a gap;
 * RR_all keeps every interval.
 */
import type { BeatLabel, RrSeries } from './types.js';

/** A beat with its time (s) and label (WFDB symbol, or N/V from our labeller). */
export interface LabelledBeat {
  tS: number;
  symbol: string;
}

function build(beats: readonly LabelledBeat[], keep: (a: LabelledBeat, b: LabelledBeat) => boolean, originS: number): RrSeries {
  const t: number[] = [];
  const rr: number[] = [];
  for (let i = 1; i < beats.length; i++) {
    const a = beats[i - 1]!;
    const b = beats[i]!;
    if (!keep(a, b)) continue;
    t.push((b.tS - originS) * 1000);
    rr.push((b.tS - a.tS) * 1000);
  }
  return { tMs: Float64Array.from(t), rrMs: Float64Array.from(rr) };
}

/** NN series: intervals whose two beats are both `N` (ms; time from `originS`). */
export function nnSeriesFromBeats(beats: readonly LabelledBeat[], options: { originS?: number } = {}): RrSeries {
  return build(beats, (a, b) => a.symbol === 'N' && b.symbol === 'N', options.originS ?? 0);
}

/** Every interval between consecutive beats, whatever their labels (ms; time from `originS`). */
export function rrAllSeriesFromBeats(beats: readonly LabelledBeat[], options: { originS?: number } = {}): RrSeries {
  return build(beats, () => true, options.originS ?? 0);
}

/** The intervals of `series` whose two beats lie in [fromS, toS) (s on the series' time axis). */
export function windowOf(series: RrSeries, fromS: number, toS: number): RrSeries {
  const t: number[] = [];
  const rr: number[] = [];
  const lo = fromS * 1000;
  const hi = toS * 1000;
  for (let i = 0; i < series.rrMs.length; i++) {
    const end = series.tMs[i]!;
    const start = end - series.rrMs[i]!;
    if (start >= lo && end < hi) {
      t.push(end);
      rr.push(series.rrMs[i]!);
    }
  }
  return { tMs: Float64Array.from(t), rrMs: Float64Array.from(rr) };
}

/** The NN series of our own detected beats and how many beats each label had. */
export interface LabelledNn {
  /** Intervals between two consecutive beats labelled N (ms; time from the first sample). */
  series: RrSeries;
  /** Beats per label: N normal, S supraventricular premature, V ventricular, Q unclassifiable (noisy). */
  counts: Record<BeatLabel, number>;
}

/**
 * NN series from detected beats (times s) and their labels: only N–N intervals are kept, so intervals next
 * to an ectopic (S, V) or an unclassifiable (Q) beat leave gaps; the counts say how many beats were not N.
 */
export function nnFromLabelledBeats(beatsS: ArrayLike<number>, labels: ArrayLike<BeatLabel>): LabelledNn {
  const counts: Record<BeatLabel, number> = { N: 0, S: 0, V: 0, Q: 0 };
  const beats: LabelledBeat[] = [];
  for (let i = 0; i < beatsS.length; i++) {
    const l = labels[i]!;
    counts[l]++;
    beats.push({ tS: beatsS[i]!, symbol: l });
  }
  return { series: nnSeriesFromBeats(beats), counts };
}
