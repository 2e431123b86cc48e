/**
 * A per-patient sliding window of RR intervals for streaming analysis (the enclave keeps one per
 * patient). Appends and evictions update running sums, so the time-domain measures cost O(1) amortised;
 * the histogram, frequency and nonlinear measures are computed on demand from the window's contents and
 * equal the batch functions on the same intervals.
 */
import { HrvError } from './errors.js';
import { frequencyDomain } from './frequency.js';
import { nonlinear } from './nonlinear.js';
import { GAP_TOLERANCE_MS, type HrvMeasures, type PsdMethod, type RrSeries, type TimeDomainMeasures } from './types.js';
import { timeDomain, MIN_INTERVALS_GEOMETRIC } from './time-domain.js';

// Running sums drift by rounding; rebuilding them from the buffer every so many updates bounds the drift
// while keeping the amortised cost O(1).
const REBUILD_EVERY = 4096;

export class StreamingHrvWindow {
  #t = new Float64Array(64);
  #rr = new Float64Array(64);
  #head = 0;
  #size = 0;
  // Sums of (rr − shift) and its square, shifted to avoid cancellation; sums over successive differences.
  #shift = 0;
  #s1 = 0;
  #s2 = 0;
  #nd = 0;
  #d1 = 0;
  #d2 = 0;
  #over50 = 0;
  #over20 = 0;
  #updates = 0;

  /** Number of intervals in the window. */
  get size(): number {
    return this.#size;
  }

  #at(i: number): number {
    return (this.#head + i) & (this.#t.length - 1);
  }

  #followsGap(i: number): boolean {
    if (i === 0) return true;
    const cur = this.#at(i);
    const prev = this.#at(i - 1);
    return Math.abs(this.#t[cur]! - this.#rr[cur]! - this.#t[prev]!) > GAP_TOLERANCE_MS;
  }

  #addDiff(d: number, sign: 1 | -1): void {
    this.#nd += sign;
    this.#d1 += sign * d;
    this.#d2 += sign * d * d;
    const a = Math.abs(d);
    if (a > 50) this.#over50 += sign;
    if (a > 20) this.#over20 += sign;
  }

  #grow(): void {
    const cap = this.#t.length * 2;
    const t = new Float64Array(cap);
    const rr = new Float64Array(cap);
    for (let i = 0; i < this.#size; i++) {
      t[i] = this.#t[this.#at(i)]!;
      rr[i] = this.#rr[this.#at(i)]!;
    }
    this.#t = t;
    this.#rr = rr;
    this.#head = 0;
  }

  /** Appends the interval `rrMs` ending at beat time `tMs` (ms, increasing). */
  append(tMs: number, rrMs: number): void {
    if (!Number.isFinite(tMs) || !Number.isFinite(rrMs) || rrMs <= 0) throw new HrvError('HRV_ERR_INPUT', `invalid interval ${rrMs} ms at ${tMs} ms`);
    if (this.#size > 0) {
      const last = this.#t[this.#at(this.#size - 1)]!;
      if (tMs <= last) throw new HrvError('HRV_ERR_INPUT', `beat time ${tMs} ms is not after the previous beat (${last} ms)`);
    }
    if (this.#size === this.#t.length) this.#grow();
    if (this.#size === 0) this.#shift = rrMs;
    const slot = this.#at(this.#size);
    this.#t[slot] = tMs;
    this.#rr[slot] = rrMs;
    this.#size++;
    const x = rrMs - this.#shift;
    this.#s1 += x;
    this.#s2 += x * x;
    if (!this.#followsGap(this.#size - 1)) this.#addDiff(rrMs - this.#rr[this.#at(this.#size - 2)]!, 1);
    this.#tick();
  }

  /** Removes the intervals that start before `tMs` (ms), i.e. no longer lie wholly in the window. */
  evictBefore(tMs: number): number {
    let removed = 0;
    while (this.#size > 0) {
      const h = this.#head;
      if (this.#t[h]! - this.#rr[h]! >= tMs) break;
      const x = this.#rr[h]! - this.#shift;
      this.#s1 -= x;
      this.#s2 -= x * x;
      if (this.#size > 1 && !this.#followsGap(1)) this.#addDiff(this.#rr[this.#at(1)]! - this.#rr[h]!, -1);
      this.#head = (this.#head + 1) & (this.#t.length - 1);
      this.#size--;
      removed++;
      this.#tick();
    }
    return removed;
  }

  #tick(): void {
    if (++this.#updates % REBUILD_EVERY === 0) return this.#rebuild();
    // When the level has moved far from the shift (relative to the spread), the shifted sums lose
    // precision: re-centre. Rare in practice (a lasting change of heart rate), so still O(1) amortised.
    const n = this.#size;
    if (n >= 2) {
      const m = this.#s1 / n;
      const v = (this.#s2 - this.#s1 * m) / (n - 1);
      if (m * m > 16 * Math.max(v, 0) + 1) this.#rebuild();
    }
  }

  #rebuild(): void {
    this.#shift = this.#size > 0 ? this.#rr[this.#head]! : 0;
    this.#s1 = this.#s2 = this.#nd = this.#d1 = this.#d2 = this.#over50 = this.#over20 = 0;
    for (let i = 0; i < this.#size; i++) {
      const x = this.#rr[this.#at(i)]! - this.#shift;
      this.#s1 += x;
      this.#s2 += x * x;
      if (!this.#followsGap(i)) this.#addDiff(this.#rr[this.#at(i)]! - this.#rr[this.#at(i - 1)]!, 1);
    }
  }

  /**
   * A copy of the window's intervals as a series; with `afterMs` only those whose beat time is after it (ms), found
   * by bisection, so a trailing span costs its own length, not the window's.
   */
  series(afterMs = -Infinity): RrSeries {
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#t[this.#at(mid)]! > afterMs) hi = mid;
      else lo = mid + 1;
    }
    const n = this.#size - lo;
    const t = new Float64Array(n);
    const rr = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      t[i] = this.#t[this.#at(lo + i)]!;
      rr[i] = this.#rr[this.#at(lo + i)]!;
    }
    return { tMs: t, rrMs: rr };
  }

  /** Start of the first interval and the last beat time (ms); null when the window is empty. O(1). */
  bounds(): { startMs: number; endMs: number } | null {
    if (this.#size === 0) return null;
    const first = this.#head;
    return { startMs: this.#t[first]! - this.#rr[first]!, endMs: this.#t[this.#at(this.#size - 1)]! };
  }

  /**
   * Time-domain measures from the running sums, O(1); with `geometric` (default) HTI and TINN come from a
   * histogram of the contents, O(n).
   */
  timeDomain(options: { geometric?: boolean } = {}): TimeDomainMeasures {
    const n = this.#size;
    const nd = this.#nd;
    const meanNn = n > 0 ? this.#shift + this.#s1 / n : null;
    const sd = n >= 2 ? Math.sqrt(Math.max(0, (this.#s2 - (this.#s1 * this.#s1) / n) / (n - 1))) : null;
    const sdsd = nd >= 2 ? Math.sqrt(Math.max(0, (this.#d2 - (this.#d1 * this.#d1) / nd) / (nd - 1))) : null;
    const geometric = (options.geometric ?? true) && n >= MIN_INTERVALS_GEOMETRIC ? timeDomain(this.series()) : null;
    return {
      mean_nn_ms: meanNn,
      sdnn_ms: sd,
      rmssd_ms: nd > 0 ? Math.sqrt(this.#d2 / nd) : null,
      sdsd_ms: sdsd,
      pnn50_pct: nd > 0 ? (100 * this.#over50) / nd : null,
      pnn20_pct: nd > 0 ? (100 * this.#over20) / nd : null,
      mean_hr_bpm: meanNn !== null && meanNn > 0 ? 60_000 / meanNn : null,
      hti: geometric?.hti ?? null,
      tinn_ms: geometric?.tinn_ms ?? null,
    };
  }

  /** The full measure set of the window's contents. */
  measures(psd: PsdMethod = 'welch'): HrvMeasures {
    const s = this.series();
    return { ...this.timeDomain(), ...frequencyDomain(s, psd), ...nonlinear(s) };
  }
}
