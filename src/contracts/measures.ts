/** The HRV measure set as it crosses boundaries: every measure a finite number or null (too short). */
import { z } from 'zod';
import type { HrvMeasures } from '../hrv/index.js';

const m = z.number().finite().nullable();

export const hrvMeasuresSchema = z.strictObject({
  mean_nn_ms: m,
  sdnn_ms: m,
  rmssd_ms: m,
  sdsd_ms: m,
  pnn50_pct: m,
  pnn20_pct: m,
  mean_hr_bpm: m,
  hti: m,
  tinn_ms: m,
  vlf_ms2: m,
  lf_ms2: m,
  hf_ms2: m,
  total_power_ms2: m,
  lf_hf: m,
  lf_nu: m,
  hf_nu: m,
  peak_lf_hz: m,
  peak_hf_hz: m,
  sd1_ms: m,
  sd2_ms: m,
  sd1_sd2: m,
  sampen: m,
  dfa_alpha1: m,
  dfa_alpha2: m,
});

// The schema and the HRV core's type must stay the same shape: a new measure is a compile error here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const measuresMatch: Same<z.infer<typeof hrvMeasuresSchema>, HrvMeasures> = true;
void measuresMatch;

/** The measure names, in clinical order (time domain, frequency domain, nonlinear). */
export const MEASURE_NAMES = Object.keys(hrvMeasuresSchema.shape) as (keyof HrvMeasures)[];

export type { HrvMeasures };
