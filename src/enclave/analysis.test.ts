/** The window measures on a cadence: computed in full only every MEASURE_CADENCE_MS of stream time, carried forward, journalled. */
import { describe, expect, it } from 'vitest';
import { analyze, cleanRr, parseRrText, timeDomain } from '../hrv/index.js';
import { rrCsv } from '../test-support/sealed-batches.js';
import { hrvResultSchema, parseRecordData, recordsFromResult, type HrvResult } from '../contracts/index.js';
import { analyseAlone, HrvAnalyser, MEASURE_CADENCE_MS, WINDOW_MS, type BatchMeta } from './analysis.js';

const FILE_MS = 10_000;

/** The gateway's 10-s file `seq` of patient p1: sinus rhythm at `bpm`, with a premature beat and its pause every 37th beat. */
function file(seq: number, bpm = 70): [BatchMeta, string, string] {
  const t0 = seq * FILE_MS;
  const t1 = t0 + FILE_MS;
  const ectopic = (i: number) => ((seq * 13 + i) % 37 === 0 ? -300 : (seq * 13 + i) % 37 === 1 ? 300 : 0);
  return [{ gateway: 'gw-1', patient: 'p1', seq, t_start_ms: t0, t_end_ms: t1 }, rrCsv(t0, t1, bpm, 30, ectopic).csv, `f${seq}`];
}

/** All beats of files 0..last, as one series (what the window is cut from). */
function beatsUpTo(last: number): { tMs: Float64Array; rrMs: Float64Array } {
  const rows = Array.from({ length: last + 1 }, (_, s) => file(s)[1].split('\n').slice(1).filter(Boolean)).flat();
  return parseRrText(['time_ms,rr_ms', ...rows].join('\n'), 'beats');
}

describe('window measures on a cadence', () => {
  it('recomputes the measures only when MEASURE_CADENCE_MS of new stream time arrived, and says which window they describe', () => {
    const a = new HrvAnalyser();
    const results = Array.from({ length: 40 }, (_, s) => a.analyse(...file(s)).result);
    let fullAt: number | undefined;
    let fulls = 0;
    for (const r of results) {
      const m = r.window.measured!;
      expect(m, `seq ${r.seq}`).toBeDefined();
      if (fullAt === undefined || r.window.end_ms - fullAt >= MEASURE_CADENCE_MS) {
        // Due: computed on this file's window.
        expect(m).toEqual({ start_ms: r.window.start_ms, end_ms: r.window.end_ms, n: r.window.n });
        fullAt = m.end_ms;
        fulls++;
      } else {
        // Carried forward: the earlier window, its measures unchanged, never older than the cadence.
        expect(m.end_ms, `seq ${r.seq}`).toBe(fullAt);
        expect(r.window.end_ms - m.end_ms).toBeLessThan(MEASURE_CADENCE_MS);
        const earlier = results.find((x) => x.window.end_ms === fullAt)!;
        expect(r.window.measures).toEqual(earlier.window.measures);
        expect(r.window.cleaning).toEqual(earlier.window.cleaning);
      }
      expect(hrvResultSchema.parse(r)).toEqual(r);
    }
    // 400 s of stream at one full computation per 60 s (the first file computes too).
    expect(fulls).toBeGreaterThanOrEqual(6);
    expect(fulls).toBeLessThanOrEqual(8);
  });

  it('a full computation equals the batch measures (time domain included) of the cleaned NN intervals of the window it names', () => {
    const a = new HrvAnalyser();
    const results = Array.from({ length: 40 }, (_, s) => a.analyse(...file(s)).result);
    const full = results.filter((r) => r.window.measured!.end_ms === r.window.end_ms && r.window.n > 100);
    expect(full.length).toBeGreaterThanOrEqual(3);
    for (const r of full) {
      const all = beatsUpTo(r.seq);
      const keep = Array.from(all.tMs.keys()).filter((i) => all.tMs[i]! - all.rrMs[i]! >= r.window.end_ms - WINDOW_MS);
      const series = { tMs: Float64Array.from(keep, (i) => all.tMs[i]!), rrMs: Float64Array.from(keep, (i) => all.rrMs[i]!) };
      expect(series.tMs.length).toBe(r.window.n);
      const nn = cleanRr(series);
      expect(nn.report.n_ectopic).toBeGreaterThan(0);
      expect(r.window.cleaning!.n_ectopic).toBe(nn.report.n_ectopic);
      expect(r.window.measures).toEqual(analyze(nn.series));
      const td = timeDomain(nn.series);
      expect(r.window.measures!.sdnn_ms).toBeCloseTo(td.sdnn_ms!, 9);
      expect(r.window.measures!.rmssd_ms).toBeCloseTo(td.rmssd_ms!, 9);
    }
  });

  it('raises a rate alert on the file that crosses the rule, between two full computations', () => {
    const a = new HrvAnalyser();
    for (let s = 0; s < 30; s++) a.analyse(...file(s));
    const fast = Array.from({ length: 8 }, (_, k) => a.analyse(...file(30 + k, 150)).result);
    const onset = fast.find((r) => r.alerts.some((x) => x.type === 'tachycardia'))!;
    expect(onset).toBeDefined();
    // The trailing 60-s rate crosses 120 bpm once more than half the span is fast: the 4th fast file at the latest.
    expect(onset.seq).toBeLessThanOrEqual(33);
    const measuredThen = fast.filter((r) => r.seq <= onset.seq).some((r) => r.window.measured!.end_ms < r.window.end_ms);
    expect(measuredThen, 'some file up to the onset carried its measures forward').toBe(true);
  });

  it('answers identically after a restart from the saved state plus the journal, mid-cadence', () => {
    const straight = new HrvAnalyser();
    const expected = Array.from({ length: 30 }, (_, s) => JSON.stringify(straight.analyse(...file(s)).result));

    const first = new HrvAnalyser({ journal: true });
    const got: string[] = [];
    let snapshot: Uint8Array | undefined;
    const deltas: Uint8Array[] = [];
    for (let s = 0; s < 17; s++) {
      got.push(JSON.stringify(first.analyse(...file(s)).result));
      const d = first.takeDelta();
      if (s === 6) snapshot = first.save();
      else if (s > 6 && d) deltas.push(d);
    }
    // The last full computation before the restart was within the cadence: the restarted one must carry it on.
    const before = JSON.parse(got[16]!) as HrvResult;
    expect(before.window.measured!.end_ms).toBeLessThan(before.window.end_ms);
    const restarted = new HrvAnalyser({ journal: true });
    restarted.load(snapshot!);
    for (const d of deltas) restarted.applyDelta(d);
    for (let s = 17; s < 30; s++) got.push(JSON.stringify(restarted.analyse(...file(s)).result));
    expect(got).toEqual(expected);

    // A restart from a whole saved state alone, mid-cadence, too.
    const again = new HrvAnalyser();
    again.load(first.save());
    expect(Array.from({ length: 13 }, (_, k) => JSON.stringify(again.analyse(...file(17 + k)).result))).toEqual(expected.slice(17));
  });

  it('counts the cadence in beat times: a gap longer than the cadence recomputes on the first file after it', () => {
    const a = new HrvAnalyser();
    for (let s = 0; s < 3; s++) a.analyse(...file(s));
    const after = a.analyse(...file(9)).result;
    expect(after.gap).toBe(6);
    expect(after.window.measured).toEqual({ start_ms: after.window.start_ms, end_ms: after.window.end_ms, n: after.window.n });
  });

  it('a late file is measured on its own beats, and its hrv record names the measured window', () => {
    const r = analyseAlone(...file(3));
    expect(r.window.measured).toEqual({ start_ms: r.window.start_ms, end_ms: r.window.end_ms, n: r.window.n });
    const a = new HrvAnalyser();
    const carried = Array.from({ length: 3 }, (_, s) => a.analyse(...file(s)).result)[2]!;
    const [hrv] = recordsFromResult('gw-1', carried);
    expect(parseRecordData('hrv', hrv.data).measured).toEqual(carried.window.measured);
  });
});
