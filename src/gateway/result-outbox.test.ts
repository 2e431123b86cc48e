import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pipelineResults } from '../test-support/pipeline-fixtures.js';
import { ResultOutbox } from './result-outbox.js';

const results = pipelineResults({ source: 'synthetic', durationS: 60 });

describe('ResultOutbox (the gateway\'s durable results, commit points R1 and R2)', () => {
  it('keeps accepted results across a restart, in order, and refuses a replayed sequence number', () => {
    const dir = mkdtempSync(join(tmpdir(), 'outbox-'));
    const o = ResultOutbox.open(dir);
    for (const r of results.slice(0, 4)) expect(o.accept('P0001', r)).toBe('accepted');
    expect(o.accept('P0001', results[2]!)).toBe('duplicate');
    expect(o.accept('P0002', results[2]!)).toBe('accepted');
    const again = ResultOutbox.open(dir);
    expect(again.pending().map((e) => [e.patient, e.result.seq])).toEqual([
      ['P0001', 0],
      ['P0001', 1],
      ['P0001', 2],
      ['P0001', 3],
      ['P0002', 2],
    ]);
    expect(again.pending()[1]!.result).toEqual(results[1]);
    expect(again.accept('P0001', results[3]!)).toBe('duplicate');
  });

  it('after delivery the entries are gone and their sequence numbers stay refused (high-water mark is durable)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'outbox-'));
    const o = ResultOutbox.open(dir);
    for (const r of results.slice(0, 3)) o.accept('P0001', r);
    o.delivered(o.pending(2));
    expect(o.pending().map((e) => e.result.seq)).toEqual([2]);
    const again = ResultOutbox.open(dir);
    expect(again.pending().map((e) => e.result.seq)).toEqual([2]);
    expect(again.accept('P0001', results[0]!)).toBe('duplicate');
    expect(again.accept('P0001', results[1]!)).toBe('duplicate');
    expect(again.accept('P0001', results[3]!)).toBe('accepted');
    // New entries sort after the old ones even though the delivered ones are gone.
    expect(again.pending().map((e) => e.result.seq)).toEqual([2, 3]);
    expect(ResultOutbox.open(dir).pending().map((e) => e.result.seq)).toEqual([2, 3]);
  });

  it('ignores the temp file of an interrupted write, and refuses an entry file that is not a result', () => {
    const dir = mkdtempSync(join(tmpdir(), 'outbox-'));
    const o = ResultOutbox.open(dir);
    o.accept('P0001', results[0]!);
    writeFileSync(join(dir, 'entries', '000000000001.json.tmp-123'), '{"patient":');
    expect(ResultOutbox.open(dir).pending()).toHaveLength(1);
    writeFileSync(join(dir, 'entries', '000000000002.json'), JSON.stringify({ patient: 'P0001', result: { ...results[1]!, window: {} } }));
    expect(() => ResultOutbox.open(dir)).toThrow(/gateway result entry 000000000002.json: result.window/);
  });

  it('moves a result the CSP refuses aside with its reason, so later results are not blocked', () => {
    const dir = mkdtempSync(join(tmpdir(), 'outbox-'));
    const o = ResultOutbox.open(dir);
    o.accept('P0001', results[0]!);
    o.accept('P0001', results[1]!);
    o.reject(o.pending(1), 'hrv record: measures.sdnn_ms: expected number');
    expect(o.pending().map((e) => e.result.seq)).toEqual([1]);
    expect(readdirSync(join(dir, 'rejected')).sort()).toEqual(['000000000000.json', '000000000000.json.reason.txt']);
    expect(ResultOutbox.open(dir).accept('P0001', results[0]!)).toBe('duplicate');
  });

  it('takes results in any order: a later seq first does not make an earlier one a replay (the host picks the order)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'outbox-'));
    const o = ResultOutbox.open(dir);
    // seq 3 arrives first (e.g. "-10.result" listed before "-9.result", or a result the host held back).
    expect(o.accept('P0001', results[3]!)).toBe('accepted');
    expect(o.accept('P0001', results[1]!)).toBe('accepted');
    expect(o.accept('P0001', results[1]!)).toBe('duplicate');
    o.delivered(o.pending());
    const again = ResultOutbox.open(dir);
    for (const seq of [1, 3]) expect(again.accept('P0001', results[seq]!)).toBe('duplicate');
    // The holes stay open across the restart: results never delivered are still taken, once.
    for (const seq of [0, 2]) expect(again.accept('P0001', results[seq]!)).toBe('accepted');
    for (const seq of [0, 2]) expect(again.accept('P0001', results[seq]!)).toBe('duplicate');
    again.delivered(again.pending());
    const third = ResultOutbox.open(dir);
    for (const seq of [0, 1, 2, 3]) expect(third.accept('P0001', results[seq]!)).toBe('duplicate');
    expect(third.accept('P0001', results[4]!)).toBe('accepted');
  });

  it('reads the high-water marks an older gateway wrote as "everything up to it delivered"', () => {
    const dir = mkdtempSync(join(tmpdir(), 'outbox-'));
    ResultOutbox.open(dir);
    writeFileSync(join(dir, 'marks.json'), JSON.stringify({ order: 7, seq: { P0001: 2 } }));
    const o = ResultOutbox.open(dir);
    for (const seq of [0, 1, 2]) expect(o.accept('P0001', results[seq]!)).toBe('duplicate');
    expect(o.accept('P0001', results[3]!)).toBe('accepted');
    expect(o.pending()[0]!.order).toBe(7);
  });
});
