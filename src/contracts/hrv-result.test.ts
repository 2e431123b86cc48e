/** A late result (the enclave's analysis of a file that came after its successor) passes every door a result takes. */
import { describe, expect, it } from 'vitest';
import { HrvAnalyser } from '../enclave/index.js';
import { rrCsv } from '../test-support/sealed-batches.js';
import { hrvResultSchema, ingestRequestSchema, parseRecordData, recordsFromResult } from './index.js';

describe('a result flagged late', () => {
  const a = new HrvAnalyser();
  const file = (seq: number) => [{ gateway: 'gw-1', patient: 'p1', seq, t_start_ms: seq * 10_000, t_end_ms: (seq + 1) * 10_000 }, rrCsv(seq * 10_000, (seq + 1) * 10_000, 70).csv, `f${seq}`] as const;
  const [, , late] = [a.analyse(...file(0)), a.analyse(...file(2)), a.analyse(...file(1))].map((x) => x.result);

  it('is valid for the gateway and the CSP ingest, and its hrv record says late', () => {
    expect(late!.late).toBe(true);
    expect(hrvResultSchema.parse(late)).toEqual(late);
    expect(ingestRequestSchema.parse({ gateway: 'gw-1', items: [{ patient: 'P-A', result: late }] }).items[0]!.result.late).toBe(true);
    const [hrv, rr] = recordsFromResult('gw-1', late!);
    expect(parseRecordData('hrv', hrv.data)).toMatchObject({ late: true, gap: 0, n: late!.rr.t_ms.length, alerts: [] });
    expect(parseRecordData('rr_batch', rr.data).beats).toEqual(late!.rr);
  });

  it('refuses any other value of the flag', () => {
    expect(hrvResultSchema.safeParse({ ...late, late: false }).success).toBe(false);
  });
});
