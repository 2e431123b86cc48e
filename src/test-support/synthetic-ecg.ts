/**
 * Synthetic ECG for the detector and labeller tests: P-QRS-T complexes built from Gaussian waves, with
 * optional premature ventricular beats (wide, tall, discordant T, compensatory pause), baseline wander,
 * mains hum and white noise. Deterministic for a given seed.
 */
export interface SyntheticEcg {
  signal: Float64Array;
  fsHz: number;
  /** Sample index of each R peak (the QRS's largest deflection). */
  rPeaks: Int32Array;
  labels: Array<'N' | 'V'>;
}

export interface SyntheticOptions {
  fsHz: number;
  durationS: number;
  meanRrMs?: number;
  /** Every k-th beat is a PVC (0: none). */
  pvcEvery?: number;
  /** PVC QRS polarity: +1 upright, −1 inverted. */
  pvcPolarity?: number;
  wanderMv?: number;
  humMv?: number;
  noiseMv?: number;
  /** Scale of the whole ECG (mV of the R wave). */
  amplitudeMv?: number;
  seed?: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

function addWave(x: Float64Array, fsHz: number, centreS: number, widthS: number, amp: number): void {
  const c = centreS * fsHz;
  const w = widthS * fsHz;
  const from = Math.max(0, Math.floor(c - 5 * w));
  const to = Math.min(x.length - 1, Math.ceil(c + 5 * w));
  for (let i = from; i <= to; i++) {
    const d = (i - c) / w;
    x[i] = x[i]! + amp * Math.exp(-0.5 * d * d);
  }
}

/** Builds a synthetic ECG (mV) with known R peaks and beat labels. */
export function syntheticEcg(o: SyntheticOptions): SyntheticEcg {
  const fs = o.fsHz;
  const n = Math.round(o.durationS * fs);
  const x = new Float64Array(n);
  const rand = rng(o.seed ?? 7);
  const gauss = (): number => {
    const u = Math.max(1e-12, rand());
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
  const a = o.amplitudeMv ?? 1;
  const meanRr = (o.meanRrMs ?? 800) / 1000;
  const peaks: number[] = [];
  const labels: Array<'N' | 'V'> = [];
  let t = 0.6;
  let k = 0;
  while (t < o.durationS - 0.6) {
    const isV = (o.pvcEvery ?? 0) > 0 && k > 0 && k % o.pvcEvery! === 0;
    // Respiratory sinus arrhythmia plus a little jitter.
    const rr = meanRr * (1 + 0.05 * Math.sin(2 * Math.PI * 0.25 * t) + 0.02 * gauss());
    if (isV) {
      const pol = o.pvcPolarity ?? 1;
      const tv = t - 0.4 * rr; // premature: 60% of the cycle after the previous beat
      addWave(x, fs, tv, 0.02, 1.6 * a * pol);
      addWave(x, fs, tv + 0.05, 0.02, -0.5 * a * pol);
      addWave(x, fs, tv + 0.3, 0.07, -0.45 * a * pol);
      peaks.push(Math.round(tv * fs));
      labels.push('V'); // the sinus beat of this slot is hidden; the next one comes on time (compensatory pause)
    } else {
      addWave(x, fs, t - 0.16, 0.02, 0.12 * a);
      addWave(x, fs, t - 0.025, 0.008, -0.12 * a);
      addWave(x, fs, t, 0.01, a);
      addWave(x, fs, t + 0.025, 0.008, -0.2 * a);
      addWave(x, fs, t + 0.25, 0.05, 0.3 * a);
      peaks.push(Math.round(t * fs));
      labels.push('N');
    }
    t += rr;
    k++;
  }
  const wander = o.wanderMv ?? 0;
  const hum = o.humMv ?? 0;
  const noise = o.noiseMv ?? 0;
  for (let i = 0; i < n; i++) {
    const ts = i / fs;
    x[i] =
      x[i]! +
      wander * Math.sin(2 * Math.PI * 0.15 * ts) +
      0.5 * wander * Math.sin(2 * Math.PI * 0.04 * ts + 1) +
      hum * Math.sin(2 * Math.PI * 50 * ts) +
      noise * gauss();
  }
  // Keep the R-peak order strictly increasing (a PVC sits between two sinus beats).
  const order = peaks.map((p, i) => [p, i] as const).sort((p, q) => p[0] - q[0]);
  return {
    signal: x,
    fsHz: fs,
    rPeaks: Int32Array.from(order.map(([p]) => p)),
    labels: order.map(([, i]) => labels[i]!),
  };
}
