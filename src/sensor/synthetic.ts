/**
 * Synthetic patients: RR series with realistic variability after the spectral model of McSharry et al.
 * (ECGSYN, 2003): the RR tachogram's spectrum is a sum of Gaussians — Mayer waves around 0.1 Hz (LF) and
 * respiratory sinus arrhythmia at the breathing rate (HF) — plus a 1/f-like slow trend (VLF). We draw each
 * band as a sum of sinusoids whose frequencies are sampled from that band's Gaussian (random phases), so
 * the series is continuous in time and can run forever. Occasional ectopic beats (premature beat plus
 * compensatory pause) and, for some patients, an episode of tachycardia, bradycardia or AF-like
 * irregularity. Deterministic for a given seed.
 */

import { prng } from '../hrv/index.js';

/** An episode during which the rhythm changes; times in simulated seconds from the patient's start. */
export interface Episode {
  kind: 'tachycardia' | 'bradycardia' | 'af';
  startS: number;
  durationS: number;
}

/** Parameters of one synthetic patient. */
export interface PatientParams {
  patient: string;
  /** Resting heart rate, bpm. */
  meanHrBpm: number;
  /** Breathing frequency (centre of the HF peak), Hz. */
  respHz: number;
  /** Centre of the LF (Mayer wave) peak, Hz. */
  mayerHz: number;
  /** Standard deviations of the relative RR modulation per band (dimensionless, e.g. 0.03 = 3 %). */
  hfSd: number;
  lfSd: number;
  vlfSd: number;
  /** Beat-to-beat white noise, relative SD. */
  noiseSd: number;
  /** Probability per beat of a premature (ectopic) beat. */
  ectopicRate: number;
  episode: Episode | null;
  seed: number;
}

export { prng };

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** Patient ids as the demo numbers them: P0001, P0002, … */
export function patientId(n: number): string {
  return `P${String(n).padStart(4, '0')}`;
}

/**
 * `count` patients with varied parameters; patient numbers ≡ 3, 6, 9 (mod 10) develop tachycardia,
 * bradycardia and AF-like irregularity respectively, starting 15–35 s into the run and lasting 20–60 s (AF 90–180 s).
 */
export function syntheticPatients(count: number, seed: number, first = 1): PatientParams[] {
  const out: PatientParams[] = [];
  for (let i = 0; i < count; i++) {
    const n = first + i;
    const rand = prng(seed * 100_003 + n);
    const kinds: Record<number, Episode['kind']> = { 3: 'tachycardia', 6: 'bradycardia', 9: 'af' };
    const kind = kinds[n % 10];
    out.push({
      patient: patientId(n),
      meanHrBpm: 58 + 24 * rand(),
      respHz: 0.2 + 0.12 * rand(),
      mayerHz: 0.09 + 0.025 * rand(),
      hfSd: 0.02 + 0.03 * rand(),
      lfSd: 0.015 + 0.03 * rand(),
      vlfSd: 0.01 + 0.02 * rand(),
      noiseSd: 0.004,
      ectopicRate: 0.004 * rand(),
      // Paroxysmal AF lasts minutes (and a rhythm needs about a minute of beats to be judged); rate episodes, 20–60 s.
      episode: kind === undefined ? null : { kind, startS: 15 + 20 * rand(), durationS: kind === 'af' ? 90 + 90 * rand() : 20 + 40 * rand() },
      seed: Math.floor(rand() * 2 ** 31),
    });
  }
  return out;
}

interface Component {
  freqHz: number;
  amp: number;
  phase: number;
}

const COMPONENTS_PER_BAND = 24;

function band(
  rand: () => number,
  centreHz: number,
  widthHz: number,
  sd: number,
  lo: number,
  hi: number,
): Component[] {
  // Each of K equal sinusoids of amplitude a contributes a²/2 of variance.
  const amp = sd * Math.sqrt(2 / COMPONENTS_PER_BAND);
  const out: Component[] = [];
  while (out.length < COMPONENTS_PER_BAND) {
    const f = centreHz + widthHz * gaussian(rand);
    if (f < lo || f > hi) continue;
    out.push({ freqHz: f, amp, phase: 2 * Math.PI * rand() });
  }
  return out;
}

function vlfBand(rand: () => number, sd: number): Component[] {
  // 1/f: frequencies log-uniform over 0.003–0.04 Hz, amplitude ∝ 1/sqrt(f), scaled to the requested SD.
  const raw: Component[] = [];
  for (let k = 0; k < COMPONENTS_PER_BAND; k++) {
    const f = 0.003 * Math.exp(Math.log(0.04 / 0.003) * rand());
    raw.push({ freqHz: f, amp: 1 / Math.sqrt(f), phase: 2 * Math.PI * rand() });
  }
  const variance = raw.reduce((s, c) => s + (c.amp * c.amp) / 2, 0);
  const scale = sd / Math.sqrt(variance);
  return raw.map((c) => ({ ...c, amp: c.amp * scale }));
}

/** One generated beat: `tMs` since the patient's start, `rrMs` the interval ending there (integer ms). */
export interface SyntheticBeat {
  seq: number;
  tMs: number;
  rrMs: number;
  ectopic: boolean;
}

/** A patient's beat generator; `next()` yields beats in order, forever. */
export class SyntheticPatient {
  readonly params: PatientParams;
  private readonly rand: () => number;
  private readonly comps: Component[];
  private tMs = 0;
  private seq = 0;
  private pendingCompensation = 0;

  constructor(params: PatientParams) {
    this.params = params;
    this.rand = prng(params.seed);
    this.comps = [
      ...band(this.rand, params.respHz, 0.01, params.hfSd, 0.15, 0.4),
      ...band(this.rand, params.mayerHz, 0.01, params.lfSd, 0.04, 0.15),
      ...vlfBand(this.rand, params.vlfSd),
    ];
  }

  /** Weight (0…1) of the episode at time tS, with 8 s ramps so rate changes are not instantaneous. */
  private episodeWeight(tS: number): number {
    const ep = this.params.episode;
    if (ep === null) return 0;
    const ramp = 8;
    const into = tS - ep.startS;
    const left = ep.startS + ep.durationS - tS;
    if (into <= 0 || left <= 0) return 0;
    return Math.min(1, into / ramp, left / ramp);
  }

  /** Mean RR (ms) at time tS, following the episode's target rate. */
  private baseRrMs(tS: number): number {
    const w = this.episodeWeight(tS);
    const rest = this.params.meanHrBpm;
    const ep = this.params.episode;
    const target =
      ep === null ? rest : ep.kind === 'tachycardia' ? 140 : ep.kind === 'bradycardia' ? 36 : 105;
    return 60_000 / (rest + w * (target - rest));
  }

  /** The next beat. */
  next(): SyntheticBeat {
    const tS = this.tMs / 1000;
    const base = this.baseRrMs(tS);
    let rr: number;
    let ectopic = false;
    if (this.pendingCompensation > 0) {
      rr = this.pendingCompensation;
      this.pendingCompensation = 0;
    } else {
      const ep = this.params.episode;
      const afW = ep?.kind === 'af' ? this.episodeWeight(tS) : 0;
      let mod = 0;
      for (const c of this.comps) mod += c.amp * Math.sin(2 * Math.PI * c.freqHz * tS + c.phase);
      mod += this.params.noiseSd * gaussian(this.rand);
      const sinus = base * (1 + mod * (1 - afW));
      // AF: intervals independent and widely scattered around the mean (irregularly irregular).
      const irregular = base * (0.65 + 0.7 * this.rand());
      rr = this.rand() < afW ? irregular : sinus;
      if (afW === 0 && this.rand() < this.params.ectopicRate) {
        ectopic = true;
        this.pendingCompensation = Math.round(rr * 1.35);
        rr *= 0.65;
      }
    }
    const rrMs = Math.min(2900, Math.max(250, Math.round(rr)));
    this.tMs += rrMs;
    this.seq += 1;
    return { seq: this.seq, tMs: this.tMs, rrMs, ectopic };
  }
}

/** The first `durationS` seconds of a patient's RR series (tests and replays). */
export function syntheticSeries(
  params: PatientParams,
  durationS: number,
): { tMs: Float64Array; rrMs: Float64Array } {
  const p = new SyntheticPatient(params);
  const t: number[] = [];
  const rr: number[] = [];
  for (;;) {
    const b = p.next();
    if (b.tMs > durationS * 1000) break;
    t.push(b.tMs);
    rr.push(b.rrMs);
  }
  return { tMs: Float64Array.from(t), rrMs: Float64Array.from(rr) };
}
