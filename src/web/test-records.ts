/** Tests only: the records the CSP would store for real pipeline results (src/test-support/pipeline-fixtures.ts), with the API's envelope. */
import { pipelineRecords, type PipelineFixtureOptions } from '../test-support/pipeline-fixtures.js';
import type { ApiRecord } from './model.js';

let n = 0;

/** Pipeline records of a fixture as the API returns them (ids, patient, author, created time added). */
export function fixtureRecords(opts: PipelineFixtureOptions = {}, patient = 'P-001'): ApiRecord[] {
  return pipelineRecords(opts).map((r) => ({
    id: `rec-${++n}`,
    patient_id: patient,
    type: r.type,
    t_ms: r.t_ms,
    author: 'enclave-ingest',
    author_name: 'HRV analysis (enclave)',
    created_ms: r.t_ms + 50,
    data: r.data as unknown as Record<string, unknown>,
  }));
}
