import { describe, expect, it } from 'vitest';
import { hrvResultSchema, parseRecordData } from '../contracts/index.js';
import { pipelineRecords, pipelineResults } from './pipeline-fixtures.js';
import { hasSharedData, SHARED_DATA_SKIP_REASON } from './shared-data.js';

describe('pipeline fixtures (the enclave analysis on real beats)', () => {
  it.skipIf(!hasSharedData())(`record 119 (ventricular bigeminy): contract-valid results with NN measures, not called irregular ${hasSharedData() ? '' : SHARED_DATA_SKIP_REASON}`, () => {
    const results = pipelineResults({ source: '119', durationS: 300 });
    expect(results.length).toBe(30);
    for (const r of results) hrvResultSchema.parse(r);
    const last = results.at(-1)!;
    expect(last.window.partial).toBe(false);
    // The NN series of 119's first 5 min has SDNN 29.09 and RMSSD 37.47 ms (reference); with every beat
    // (ectopics included) it is 267.9 / 489.6. Cleaning must bring the window near the NN values.
    expect(last.window.measures!.sdnn_ms!).toBeLessThan(45);
    expect(last.window.measures!.rmssd_ms!).toBeLessThan(60);
    expect(last.window.cleaning!.n_ectopic).toBeGreaterThan(50);
    expect(results.flatMap((r) => r.alerts).map((a) => a.type)).not.toContain('irregular_rhythm');
    expect(last.window.af_suspected).toBe(false);
  });

  it('synthetic AF patient (the demo\'s P0009): irregular rhythm raised during the episode', () => {
    const results = pipelineResults({ source: 'synthetic', syntheticPatient: 9, durationS: 300 });
    expect(results.flatMap((r) => r.alerts).map((a) => a.type)).toContain('irregular_rhythm');
    expect(results.some((r) => r.window.af_suspected === true)).toBe(true);
  });

  it.skipIf(!hasSharedData())('record 221 (atrial fibrillation): irregular rhythm raised and ectopy not "corrected" away', () => {
    const results = pipelineResults({ source: '221', durationS: 600 });
    const flagged = results.filter((r) => r.window.af_suspected === true);
    expect(flagged.length).toBeGreaterThan(results.length / 2);
    expect(results.flatMap((r) => r.alerts).map((a) => a.type)).toContain('irregular_rhythm');
  });

  it('records built from results pass their record contracts', () => {
    const recs = pipelineRecords({ source: 'synthetic', durationS: 60 });
    expect(recs.map((r) => r.type)).toEqual(Array.from({ length: recs.length }, (_, i) => (i % 2 === 0 ? 'hrv' : 'rr_batch')));
    for (const r of recs) parseRecordData(r.type, r.data);
  });
});
