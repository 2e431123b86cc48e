/**
 * Noise stress test signals: reproducible noise of the kinds that break ECG beat detectors, mixed into a
 * clean record at a chosen signal-to-noise ratio, in the manner of the MIT-BIH Noise Stress Test (NST). The
 * signal power is S = A²/8 with A the median peak-to-peak QRS amplitude (the NST's definition, which
 * makes a sine of amplitude A/2 have SNR 0 dB), and the noise power N is the mean square of the noise
 * over the whole record, also for the transient types: sparse spikes and motion bursts at 12 dB are
 * therefore much larger than their record-average power suggests, as they are in the NST's own noise.
 */
import { HrvError } from './errors.js';
import { butterBandpass, butterHighpass, butterLowpass, filtfilt } from './filters.js';
import { prng } from './prng.js';

/** Kinds of noise the stress test mixes in. */
export type NoiseType = 'baseline' | 'muscle' | 'motion' | 'spikes' | 'powerline';

/** Every noise type, in report order. */
export const NOISE_TYPES: readonly NoiseType[] = ['baseline', 'muscle', 'motion', 'spikes', 'powerline'];

/** Options of mixNoise. */
export interface NoiseOptions {
  /** Seed of the pseudo-random generator (default 1); the same seed gives the same noise. */
  seed?: number;
  /** Mains frequency for 'powerline', Hz (default 60, the MIT-BIH recordings' mains). */
  mainsHz?: number;
}

/** A noisy copy of a signal and what was added. */
export interface NoisyEcg {
  /** signal + noise, mV. */
  signal: Float64Array;
  /** The added noise alone, mV. */
  noise: Float64Array;
  /** Signal power A²/8 used for the scaling, mV². */
  signalPower: number;
  /** Noise power (mean square over the whole record), mV². */
  noisePower: number;
  /** 1 where the noise is active (every sample for continuous noise). */
  active: Uint8Array;
}

/** Median peak-to-peak amplitude (mV) of the signal within ±60 ms of each given R peak. */
export function qrsAmplitude(signal: Float64Array, fsHz: number, rPeaks: ArrayLike<number>): number {
  const half = Math.max(1, Math.round(0.06 * fsHz));
  const amps: number[] = [];
  for (let b = 0; b < rPeaks.length; b++) {
    const r = rPeaks[b]!;
    let mn = Infinity;
    let mx = -Infinity;
    for (let i = Math.max(0, r - half); i <= Math.min(signal.length - 1, r + half); i++) {
      const v = signal[i]!;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    if (mx > mn) amps.push(mx - mn);
  }
  if (amps.length === 0) throw new HrvError('HRV_ERR_INPUT', 'no R peak inside the signal to measure the QRS amplitude');
  amps.sort((a, b) => a - b);
  return amps[amps.length >> 1]!;
}

function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(Math.max(1e-12, rand()))) * Math.cos(2 * Math.PI * rand());
}

/** Unscaled noise of the given type (arbitrary units) and the mask of samples where it is active. */
function rawNoise(type: NoiseType, n: number, fsHz: number, seed: number, mainsHz: number): { x: Float64Array; active: Uint8Array } {
  const rand = prng(seed);
  const g = gaussian(rand);
  const x = new Float64Array(n);
  const active = new Uint8Array(n).fill(1);
  const nyq = fsHz / 2;
  switch (type) {
    case 'baseline': {
      // Respiration (0.15–0.4 Hz) and slow drift (< 0.1 Hz) as a few sines of random phase plus a
      // low-passed random walk, which is what electrode-skin drift and breathing look like.
      const comps = [0.05, 0.12, 0.25, 0.33];
      const ph = comps.map(() => 2 * Math.PI * rand());
      for (let i = 0; i < n; i++) {
        let v = 0;
        for (let c = 0; c < comps.length; c++) v += Math.sin((2 * Math.PI * comps[c]! * i) / fsHz + ph[c]!) / (c + 1);
        x[i] = v;
      }
      const walk = new Float64Array(n);
      for (let i = 0; i < n; i++) walk[i] = g();
      const slow = filtfilt(butterLowpass(0.5, fsHz, 2), walk);
      let s = 0;
      for (let i = 0; i < n; i++) s += slow[i]! * slow[i]!;
      const k = s > 0 ? Math.sqrt(n / s) * 0.5 : 0;
      for (let i = 0; i < n; i++) x[i] = x[i]! + k * slow[i]!;
      break;
    }
    case 'muscle': {
      // Surface EMG: broadband 20–150 Hz (up to 90% of Nyquist), amplitude-modulated by slow bursts of
      // muscle activity; it overlaps the QRS band, which is why it is the hardest stationary noise.
      for (let i = 0; i < n; i++) x[i] = g();
      const hi = Math.min(150, 0.9 * nyq);
      const band = filtfilt(butterBandpass(20, hi, fsHz, 2), x);
      const envRaw = new Float64Array(n);
      for (let i = 0; i < n; i++) envRaw[i] = g();
      const env = filtfilt(butterLowpass(0.5, fsHz, 2), envRaw);
      let s = 0;
      for (let i = 0; i < n; i++) s += env[i]! * env[i]!;
      const k = s > 0 ? Math.sqrt(n / s) : 0;
      for (let i = 0; i < n; i++) x[i] = band[i]! * (1 + 0.5 * Math.tanh(k * env[i]!));
      break;
    }
    case 'motion': {
      // Electrode-motion transients: 80–400 ms bursts of 1–20 Hz energy with a baseline step, every
      // 1–4 s at random times, so they fall anywhere in the cycle, also just before a QRS or in a pause.
      active.fill(0);
      const white = new Float64Array(n);
      for (let i = 0; i < n; i++) white[i] = g();
      const band = filtfilt(butterBandpass(1, Math.min(20, 0.4 * fsHz), fsHz, 2), white);
      let t = Math.round((0.5 + rand()) * fsHz);
      while (t < n) {
        const len = Math.round((0.08 + 0.32 * rand()) * fsHz);
        const step = (rand() - 0.5) * 2;
        for (let k = 0; k < len && t + k < n; k++) {
          const w = Math.sin((Math.PI * k) / len); // smooth on and off
          x[t + k] = w * (band[t + k]! * 3 + step);
          active[t + k] = 1;
        }
        t += len + Math.round((1 + 3 * rand()) * fsHz);
      }
      break;
    }
    case 'spikes': {
      // Sharp artefact spikes (cable tap, electrode pop): 10–40 ms biphasic pulses every 0.5–3 s.
      active.fill(0);
      let t = Math.round((0.3 + rand()) * fsHz);
      while (t < n) {
        const len = Math.max(3, Math.round((0.01 + 0.03 * rand()) * fsHz));
        const sign = rand() < 0.5 ? -1 : 1;
        for (let k = 0; k < len && t + k < n; k++) {
          x[t + k] = sign * Math.sin((2 * Math.PI * k) / len) * (k < len / 2 ? 1 : 0.6);
          active[t + k] = 1;
        }
        t += len + Math.round((0.5 + 2.5 * rand()) * fsHz);
      }
      break;
    }
    case 'powerline': {
      // Mains hum with its third harmonic (where the rate allows) and a slow amplitude drift.
      const ph = 2 * Math.PI * rand();
      const ph3 = 2 * Math.PI * rand();
      for (let i = 0; i < n; i++) {
        const tt = i / fsHz;
        let v = Math.sin(2 * Math.PI * mainsHz * tt + ph);
        if (3 * mainsHz < nyq) v += 0.2 * Math.sin(2 * Math.PI * 3 * mainsHz * tt + ph3);
        x[i] = v * (1 + 0.2 * Math.sin(2 * Math.PI * 0.05 * tt));
      }
      break;
    }
  }
  // Continuous noise types carry no DC, so the mix does not shift the baseline.
  if (type === 'muscle' || type === 'baseline') {
    const hp = filtfilt(butterHighpass(Math.min(0.01, 0.1 * nyq), fsHz, 1), x);
    x.set(hp);
  }
  return { x, active };
}

/**
 * Adds noise of one type to a signal (mV, sampled at fsHz) at snrDb, with the QRS amplitude measured at
 * rPeaks (sample indices, e.g. the reference annotations). Deterministic for a given seed.
 */
export function mixNoise(
  signal: Float64Array,
  fsHz: number,
  rPeaks: ArrayLike<number>,
  type: NoiseType,
  snrDb: number,
  options: NoiseOptions = {},
): NoisyEcg {
  if (!Number.isFinite(snrDb)) throw new HrvError('HRV_ERR_INPUT', `SNR must be a finite number of dB, got ${snrDb}`);
  if (!(fsHz > 0)) throw new HrvError('HRV_ERR_SAMPLING_RATE', `sampling rate must be positive, got ${fsHz}`);
  const n = signal.length;
  const mainsHz = options.mainsHz ?? 60;
  if (type === 'powerline' && !(mainsHz < fsHz / 2))
    throw new HrvError('HRV_ERR_SAMPLING_RATE', `mains ${mainsHz} Hz is above the Nyquist frequency of ${fsHz} Hz`);
  const a = qrsAmplitude(signal, fsHz, rPeaks);
  const signalPower = (a * a) / 8;
  const { x, active } = rawNoise(type, n, fsHz, options.seed ?? 1, mainsHz);
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i]! * x[i]!;
  const raw = n > 0 ? s / n : 0;
  const noisePower = signalPower / 10 ** (snrDb / 10);
  const k = raw > 0 ? Math.sqrt(noisePower / raw) : 0;
  const noise = new Float64Array(n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    noise[i] = k * x[i]!;
    out[i] = signal[i]! + noise[i]!;
  }
  return { signal: out, noise, signalPower, noisePower, active };
}
