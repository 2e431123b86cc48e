/**
 * Shared shapes of the HRV core. Units are in every name: ms for times and intervals, Hz, ms², bpm.
 */

/** A series of beats: the time of each beat and the RR interval that ends at it. */
export interface RrSeries {
  /** Beat times in ms from the start of the recording (time 0 of the input's time axis), increasing. */
  readonly tMs: Float64Array;
  /** Interval from the previous beat to this beat, ms (> 0). */
  readonly rrMs: Float64Array;
}

/**
 * An interval follows a gap when its start (tMs − rrMs) is not the previous beat's time. Removed beats are at
 * least a few hundred ms apart, so a tolerance of a few ms absorbs rounding of integer-ms files without
 * ever hiding a removed beat.
 */
export const GAP_TOLERANCE_MS = 5;

/** Frequency bands, Hz: [low, high). */
export const BANDS_HZ = {
  vlf: [0.0033, 0.04],
  lf: [0.04, 0.15],
  hf: [0.15, 0.4],
} as const;

export type PsdMethod = 'welch' | 'lomb';

/** Time-domain measures; null where the window is too short for the measure. */
export interface TimeDomainMeasures {
  mean_nn_ms: number | null;
  sdnn_ms: number | null;
  rmssd_ms: number | null;
  sdsd_ms: number | null;
  pnn50_pct: number | null;
  pnn20_pct: number | null;
  mean_hr_bpm: number | null;
  hti: number | null;
  tinn_ms: number | null;
}

/** Frequency-domain measures (bands VLF 0.0033–0.04, LF 0.04–0.15, HF 0.15–0.4 Hz); null where too short. */
export interface FrequencyDomainMeasures {
  vlf_ms2: number | null;
  lf_ms2: number | null;
  hf_ms2: number | null;
  total_power_ms2: number | null;
  lf_hf: number | null;
  lf_nu: number | null;
  hf_nu: number | null;
  peak_lf_hz: number | null;
  peak_hf_hz: number | null;
}

/** Nonlinear measures; null where too short. */
export interface NonlinearMeasures {
  sd1_ms: number | null;
  sd2_ms: number | null;
  sd1_sd2: number | null;
  sampen: number | null;
  dfa_alpha1: number | null;
  dfa_alpha2: number | null;
}

export type HrvMeasures = TimeDomainMeasures & FrequencyDomainMeasures & NonlinearMeasures;

/** One analysis window: [start_s, end_s) on the input's time axis and the measures of its NN intervals. */
export interface WindowResult extends HrvMeasures {
  start_s: number;
  end_s: number;
  /** Number of NN intervals in the window. */
  n_nn: number;
}

/** Beat label: N normal (sinus), S supraventricular premature, V ventricular ectopic, Q unclassifiable (too noisy). */
export type BeatLabel = 'N' | 'S' | 'V' | 'Q';
