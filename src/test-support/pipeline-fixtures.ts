/**
 * Test fixtures from the real producers: beats of a shared record (or the synthetic sensor's series) are cut
 * into batch files exactly as the gateway writes them (formatRrCsv) and analysed by the enclave's own
 * HrvAnalyser, so the HrvResults — and the records `recordsFromResult` builds from them — are what
 * production makes, never hand-made look-alikes.
 */
import { recordsFromResult, type HrvResult } from '../contracts/index.js';
import { HrvAnalyser } from '../enclave/index.js';
import { formatRrCsv } from '../hrv/index.js';
import { syntheticPatients, syntheticSeries } from '../sensor/index.js';
import { readBeats } from './shared-data.js';

export interface PipelineFixtureOptions {
  /** Beats from a shared annotated record (all beats, as a sensor would see them) or the synthetic sensor. */
  /** A record of ../shared/data at 360 Hz (e.g. '119', or '221' in atrial fibrillation) or 'synthetic'. */
  source?: string;
  /** With source 'synthetic': the demo's patient number (≡ 3, 6, 9 mod 10 develop tachycardia, bradycardia, AF). */
  syntheticPatient?: number;
  gateway?: string;
  /** Patient pseudonym as the enclave sees it. */
  pseudonym?: string;
  /** Epoch time of the recording's start, ms. */
  startMs?: number;
  /** Batch interval, ms. */
  batchMs?: number;
  /** Stop after this much of the recording, s. */
  durationS?: number;
}

/** Beat times (ms from the start) and intervals (ms) of the chosen source. */
function beatsOf(source: string, durationS: number, n: number): { tMs: Float64Array; rrMs: Float64Array } {
  if (source === 'synthetic') return syntheticSeries(syntheticPatients(1, 1, n)[0]!, durationS);
  const beats = readBeats(source);
  const t: number[] = [];
  const rr: number[] = [];
  for (let i = 1; i < beats.length; i++) {
    const tMs = (beats[i]!.sample / 360) * 1000;
    if (tMs > durationS * 1000) break;
    t.push(tMs);
    rr.push(tMs - (beats[i - 1]!.sample / 360) * 1000);
  }
  return { tMs: Float64Array.from(t), rrMs: Float64Array.from(rr) };
}

/** Runs the enclave's analysis over consecutive batch files of a record; returns every result in order. */
export function pipelineResults(opts: PipelineFixtureOptions = {}): HrvResult[] {
  const source = opts.source ?? '119';
  const gateway = opts.gateway ?? 'gw-fixture';
  const patient = opts.pseudonym ?? 'pfixture';
  const startMs = opts.startMs ?? Date.UTC(2026, 10, 30, 8, 0, 0);
  const batchMs = opts.batchMs ?? 10_000;
  const { tMs, rrMs } = beatsOf(source, opts.durationS ?? 360, opts.syntheticPatient ?? 1);
  const analyser = new HrvAnalyser();
  const results: HrvResult[] = [];
  let i = 0;
  for (let seq = 0, t0 = 0; i < tMs.length; seq++, t0 += batchMs) {
    const from = i;
    while (i < tMs.length && tMs[i]! < t0 + batchMs) i++;
    const batch = { tMs: tMs.subarray(from, i).map((x) => x + startMs), rrMs: rrMs.subarray(from, i) };
    const meta = { gateway, patient, seq, t_start_ms: startMs + t0, t_end_ms: startMs + t0 + batchMs };
    results.push(analyser.analyse(meta, formatRrCsv(batch), `${patient}-${seq}.rr`).result);
  }
  return results;
}

/** The `hrv` and `rr_batch` records (type, t_ms, data) the CSP stores for those results, in order. */
export function pipelineRecords(opts: PipelineFixtureOptions = {}): ReturnType<typeof recordsFromResult>[number][] {
  return pipelineResults(opts).flatMap((r) => recordsFromResult(opts.gateway ?? 'gw-fixture', r));
}
