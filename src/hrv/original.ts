/**
 * The published system's per-micro-batch measures, kept for comparison with it: SDNN of each 10-second
 * block, and LF/HF from a DFT over the RR values of the block (the RR values taken as samples one mean
 * interval apart). Not clinical: 10 s holds one or two LF cycles at most, and the DFT of a dozen beats
 * has a frequency resolution of about 0.1 Hz, so LF/HF of a block says little.
 */
import { HrvError } from './errors.js';
import { sampleSd } from './time-domain.js';
import { BANDS_HZ, type RrSeries } from './types.js';

/** One block's measures; `clinical: false` marks them as not for clinical use. */
export interface OriginalBlockMeasures {
  start_s: number;
  end_s: number;
  n: number;
  sdnn_ms: number | null;
  lf_hf: number | null;
  clinical: false;
}

/** LF/HF of RR values treated as evenly spaced samples at the mean interval (DFT, mean removed). */
export function blockLfHf(rr: ArrayLike<number>): number | null {
  const n = rr.length;
  if (n < 4) return null;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += rr[i]!;
  mean /= n;
  const fs = 1000 / mean;
  let lf = 0;
  let hf = 0;
  let total = 0;
  for (let k = 1; k <= Math.floor(n / 2); k++) {
    const f = (k * fs) / n;
    let re = 0;
    let im = 0;
    for (let j = 0; j < n; j++) {
      const a = (-2 * Math.PI * k * j) / n;
      re += (rr[j]! - mean) * Math.cos(a);
      im += (rr[j]! - mean) * Math.sin(a);
    }
    const p = re * re + im * im;
    total += p;
    if (f >= BANDS_HZ.lf[0] && f < BANDS_HZ.lf[1]) lf += p;
    else if (f >= BANDS_HZ.hf[0] && f < BANDS_HZ.hf[1]) hf += p;
  }
  // Below 1e-12 of the block's power a band holds only the rounding of the DFT sums, not signal.
  const floor = 1e-12 * total;
  if (hf <= floor) return null;
  return lf <= floor ? 0 : lf / hf;
}

/** SDNN and LF/HF of each block [k·blockS, (k+1)·blockS) s; an interval belongs to a block if both beats do. */
export function originalBlockMeasures(series: RrSeries, blockS = 10): OriginalBlockMeasures[] {
  if (!(blockS > 0) || !Number.isFinite(blockS))
    throw new HrvError('HRV_ERR_INPUT', `block length must be > 0 s, got ${blockS}`);
  const n = series.rrMs.length;
  if (n === 0) return [];
  const out: OriginalBlockMeasures[] = [];
  const blockMs = blockS * 1000;
  let i = 0;
  const first = Math.floor((series.tMs[0]! - series.rrMs[0]!) / blockMs);
  const last = Math.floor(series.tMs[n - 1]! / blockMs);
  for (let k = first; k <= last; k++) {
    const lo = k * blockMs;
    const hi = lo + blockMs;
    const rr: number[] = [];
    while (i < n && series.tMs[i]! < hi) {
      if (series.tMs[i]! - series.rrMs[i]! >= lo) rr.push(series.rrMs[i]!);
      i++;
    }
    out.push({
      start_s: lo / 1000,
      end_s: hi / 1000,
      n: rr.length,
      sdnn_ms: sampleSd(rr),
      lf_hf: blockLfHf(rr),
      clinical: false,
    });
  }
  return out;
}
