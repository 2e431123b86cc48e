/**
 * HRV results for the access tests. TEMPORARY bridge until the lead's src/test-support/pipeline-fixtures.ts
 * (the enclave's v2 analysis over a shared record) reaches this branch: it runs the enclave's current
 * HrvAnalyser over batch files of shared record 119 cut exactly as the gateway writes them, and carries
 * its output into the v2 contract, checked by the contract's schema. Replaced by a re-export on merge.
 */
import { hrvResultSchema, type HrvResult } from '../../contracts/index.js';
import { HrvAnalyser } from '../../enclave/index.js';
import { formatRrCsv } from '../../hrv/index.js';
import { readBeats } from '../../test-support/shared-data.js';

/** Same options as pipeline-fixtures' pipelineResults (the subset used here). */
export interface FixtureOptions {
  gateway?: string;
  pseudonym?: string;
  startMs?: number;
  batchMs?: number;
  durationS?: number;
}

/** Consecutive results of one patient, from the enclave's analysis. */
export function pipelineResults(opts: FixtureOptions = {}): HrvResult[] {
  const gateway = opts.gateway ?? 'gw-fixture';
  const patient = opts.pseudonym ?? 'pfixture';
  const startMs = opts.startMs ?? Date.UTC(2026, 10, 30, 8, 0, 0);
  const batchMs = opts.batchMs ?? 10_000;
  const durationS = opts.durationS ?? 360;
  const beats = readBeats('119');
  const t: number[] = [];
  const rr: number[] = [];
  for (let i = 1; i < beats.length; i++) {
    const tMs = (beats[i]!.sample / 360) * 1000;
    if (tMs > durationS * 1000) break;
    t.push(tMs);
    rr.push(tMs - (beats[i - 1]!.sample / 360) * 1000);
  }
  const analyser = new HrvAnalyser();
  const out: HrvResult[] = [];
  let i = 0;
  for (let seq = 0, t0 = 0; i < t.length; seq++, t0 += batchMs) {
    const from = i;
    while (i < t.length && t[i]! < t0 + batchMs) i++;
    const bt = Float64Array.from(t.slice(from, i), (x) => x + startMs);
    const br = Float64Array.from(rr.slice(from, i));
    const meta = { gateway, patient, seq, t_start_ms: startMs + t0, t_end_ms: startMs + t0 + batchMs };
    const r = analyser.analyse(meta, formatRrCsv({ tMs: bt, rrMs: br }), `${patient}-${seq}.rr`).result;
    const alert = (a: string) => (a === 'af_like' ? 'irregular_rhythm' : a) as HrvResult['active_alerts'][number];
    out.push(
      hrvResultSchema.parse({
        v: 2,
        patient: r.patient,
        seq: r.seq,
        gap: r.gap,
        t_start_ms: r.t_start_ms,
        t_end_ms: r.t_end_ms,
        rr: { t_ms: [...bt], rr_ms: [...br] },
        original: r.original,
        window: {
          start_ms: bt.length ? bt[bt.length - 1]! - r.window.span_ms : r.t_start_ms,
          end_ms: bt.length ? bt[bt.length - 1]! : r.t_end_ms,
          span_ms: r.window.span_ms,
          n: r.window.n,
          partial: r.window.span_ms < 300_000,
          length_ms: 300_000,
          measures: r.window.measures,
          cleaning: null,
          af_suspected: null,
        },
        active_alerts: r.active_alerts.map(alert),
        alerts: r.alerts.map((a) => ({ ...a, type: alert(a.type) })),
      }),
    );
  }
  return out;
}
