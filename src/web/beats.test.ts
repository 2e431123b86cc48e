import { describe, expect, it } from 'vitest';
import { analyze, cleanRr } from '../hrv/index.js';
import { CORRECTED, EXCLUDED, KEPT, analyzeWindow, cleanBeats, joinBatches, poincareEllipse, poincarePairs, spectrumData, tachogramData } from './beats.js';
import { hrvEntries, measuredSpan, rrBatchEntries } from './hrv-model.js';
import { fixtureRecords } from './test-records.js';

const recs = fixtureRecords({ source: '119', durationS: 360 });
const batches = rrBatchEntries(recs).entries;
const beats = joinBatches(batches);

describe('beats in the browser', () => {
  it('joins the batches in time order without duplicates', () => {
    const n = batches.reduce((s, b) => s + b.data.beats.t_ms.length, 0);
    expect(beats.tMs.length).toBe(n);
    for (let i = 1; i < beats.tMs.length; i++) expect(beats.tMs[i]!).toBeGreaterThan(beats.tMs[i - 1]!);
    expect(joinBatches([...batches, batches[3]!]).tMs.length).toBe(n);
  });

  it('an empty series cleans to an empty report', () => {
    const c = cleanBeats({ tMs: new Float64Array(0), rrMs: new Float64Array(0) });
    expect(c.report.n_input).toBe(0);
    expect(tachogramData(c)[0]).toEqual([]);
  });

  it('marks every input beat as cleanRr treated it (record 119: bigeminy, many excluded)', () => {
    const c = cleanBeats(beats);
    const direct = cleanRr(beats);
    const count = (s: number) => c.status.reduce((k, v) => k + (v === s ? 1 : 0), 0);
    expect(count(EXCLUDED)).toBe(direct.report.n_excluded);
    expect(count(KEPT) + count(CORRECTED)).toBe(direct.report.n_kept);
    expect(count(CORRECTED)).toBe(direct.report.n_corrected);
    expect(c.nn.rrMs.length).toBe(direct.series.rrMs.length);
  });

  it('marks corrected beats: a missed beat split, extra beats merged', () => {
    const rr: number[] = [];
    for (let i = 0; i < 200; i++) rr.push(800 + 30 * Math.sin(i / 4));
    rr[50] = rr[50]! * 2; // missed beat
    rr.splice(120, 1, 400.5, rr[120]! - 400.5); // extra beat
    const t: number[] = [];
    rr.reduce((s, x) => (t.push(s + x), s + x), 1_000_000);
    const c = cleanBeats({ tMs: Float64Array.from(t), rrMs: Float64Array.from(rr) });
    expect(c.report.n_corrected).toBeGreaterThanOrEqual(3);
    expect(c.status[50]).toBe(CORRECTED);
    expect(c.status[120]).toBe(CORRECTED);
    expect(c.status[121]).toBe(CORRECTED);
    const d = tachogramData(c);
    for (let k = 1; k < d[0].length; k++) expect(d[0][k]!).toBeGreaterThan(d[0][k - 1]!);
    // The split adds one beat; each series has one value per x.
    expect(d.every((col) => col.length === d[0].length)).toBe(true);
    expect(d[4].filter((v) => v !== null).length).toBeGreaterThanOrEqual(3);
  });

  it('the tachogram’s NN line breaks at excluded beats', () => {
    const d = tachogramData(cleanBeats(beats));
    const excluded = d[3].filter((v) => v !== null).length;
    expect(excluded).toBe(cleanRr(beats).report.n_excluded);
    expect(d[2].some((v) => v === null)).toBe(true);
  });

  it('a window analysed in the browser matches the enclave’s measures of the same window', () => {
    const recs100 = fixtureRecords({ source: '100', durationS: 360 });
    const all = joinBatches(rrBatchEntries(recs100).entries);
    const latest = hrvEntries(recs100).entries.at(-1)!;
    // The measures describe the window of the enclave's last full computation (carried forward up to a minute).
    const span = measuredSpan(latest.data);
    const a = analyzeWindow(all, span.start_ms, span.end_ms)!;
    expect(a.cleaned.report.n_input).toBe(latest.data.measured!.n);
    expect(a.measures.sdnn_ms!).toBeCloseTo(latest.data.measures!.sdnn_ms!, 6);
    expect(a.measures.rmssd_ms!).toBeCloseTo(latest.data.measures!.rmssd_ms!, 6);
    expect(a.measures.lf_hf!).toBeCloseTo(latest.data.measures!.lf_hf!, 6);
    expect(a.measures).toEqual(analyze(a.cleaned.nn));
    expect(a.poincare.x.length).toBe(a.poincare.y.length);
    expect(a.histogram.counts.reduce((s, c) => s + c, 0)).toBe(a.cleaned.nn.rrMs.length);
    const sp = spectrumData(a.psd!);
    expect(sp.x.at(-1)!).toBeLessThanOrEqual(0.5);
  });

  it('Poincaré pairs skip gaps; the ellipse has SD1 across and SD2 along the identity line', () => {
    const nn = cleanBeats(beats).nn;
    const p = poincarePairs(nn);
    expect(p.x.length).toBeLessThan(nn.rrMs.length);
    for (let i = 1; i < p.x.length; i++) expect(p.x[i]!).toBeGreaterThanOrEqual(p.x[i - 1]!);
    const e = poincareEllipse(1000, 20, 60, 4);
    // a = 0: along the identity line by SD2.
    expect(e.x[0]! - 1000).toBeCloseTo(60 / Math.SQRT2);
    expect(e.y[0]! - 1000).toBeCloseTo(60 / Math.SQRT2);
    // a = 90°: across by SD1.
    expect(e.x[1]! - 1000).toBeCloseTo(-20 / Math.SQRT2);
    expect(e.y[1]! - 1000).toBeCloseTo(20 / Math.SQRT2);
  });
});
