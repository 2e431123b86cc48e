/**
 * Uploaded RR and ECG files over HTTP: parsed by the CLI's parsers, refused with FILE:LINE and nothing
 * stored when bad, analysed per window into `hrv` records (and an `rr_batch`) when good. Inputs are shared
 * reference records, not invented series.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasSharedData, readSharedText } from '../test-support/shared-data.js';
import { analyzeWindows, cleanRr, parseRrText } from '../hrv/index.js';
import { makeApiFixture, type ApiFixture } from './test-support/api-fixture.js';

let f: ApiFixture;
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const T0 = Date.UTC(2026, 1, 1, 9);

describe.skipIf(!hasSharedData())('HTTP: uploaded RR and ECG files', () => {
  beforeAll(async () => {
    f = await makeApiFixture();
  });
  afterAll(async () => {
    await f?.close();
  });

  const upload = (type: 'rr_file' | 'ecg_file', data: Record<string, unknown>, t_ms?: number) =>
    f.app.inject({
      method: 'POST',
      url: '/api/v1/patients/P-A/records',
      payload: { type, data, ...(t_ms === undefined ? {} : { t_ms }) },
      headers: bearer(f.tokens.health_worker),
    });
  const count = async () =>
    (await f.app.inject({ method: 'GET', url: '/api/v1/patients/P-A/records', headers: bearer(f.tokens.doctor) })).json<{ records: unknown[] }>().records.length;

  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['random binary', { filename: 'noise.bin', text: Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 73 + 11) % 256)).toString('latin1') }, /^noise\.bin(:\d+)?: /],
    ['a bad line in an RR column', { filename: 'rr.csv', text: 'rr_ms\n800\n810\nabc\n790\n' }, /^rr\.csv:4: /],
    ['an interval of zero', { filename: 'rr.csv', text: 'rr_ms\n800\n0\n790\n' }, /^rr\.csv:3: /],
    ['too few beats', { filename: 'short.csv', text: 'rr_ms\n800\n' }, /^short\.csv: /],
  ];
  for (const [what, data, detail] of refused) {
    it(`an rr_file with ${what} → 422 with the parser's FILE:LINE: reason, nothing stored`, async () => {
      const before = await count();
      const res = await upload('rr_file', data);
      expect(res.statusCode).toBe(422);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
      expect(res.json<{ detail: string }>().detail).toMatch(detail);
      expect(await count()).toBe(before);
    });
  }

  it('an ecg_file without a sampling rate → 422, nothing stored', async () => {
    const before = await count();
    const res = await upload('ecg_file', { filename: 'ecg.txt', text: '0.1\n0.2\n0.9\n0.1\n'.repeat(50) });
    expect(res.statusCode).toBe(422);
    expect(res.json<{ detail: string }>().detail).toMatch(/^ecg\.txt: no sampling rate/);
    expect(await count()).toBe(before);
  });

  it('a good RR file → the file record plus one hrv record per 5-min window and an rr_batch; measures as `hrvault hrv` computes them', async () => {
    const text = readSharedText('rr_ec57_tp2.csv.gz').split('\n').slice(0, 1200).join('\n');
    const res = await upload('rr_file', { filename: 'tp2.csv', text }, T0);
    expect(res.statusCode, res.body).toBe(201);
    const file = res.json<{ id: string; type: string; t_ms: number; data: { n_intervals: number; windows: number } }>();
    const expected = analyzeWindows(cleanRr(parseRrText(text, 'tp2.csv')).series, { windowS: 300 });
    expect(file).toMatchObject({ type: 'rr_file', t_ms: T0, data: { n_intervals: 1196, windows: expected.length } });
    const hrv = (
      await f.app.inject({ method: 'GET', url: `/api/v1/patients/P-A/records?type=hrv&from=${T0}`, headers: bearer(f.tokens.doctor) })
    ).json<{ records: Array<{ t_ms: number; data: { source: { kind: string; file_record: string; window: number }; measures: { sdnn_ms: number; hf_ms2: number } } }> }>().records;
    expect(hrv).toHaveLength(expected.length);
    hrv.forEach((r, i) => {
      expect(r.data.source).toMatchObject({ kind: 'upload', file_record: file.id, window: i });
      expect(r.data.measures.sdnn_ms).toBe(expected[i]!.sdnn_ms);
      expect(r.t_ms).toBe(Math.round(T0 + expected[i]!.end_s * 1000));
    });
    const rr = (
      await f.app.inject({ method: 'GET', url: `/api/v1/patients/P-A/records?type=rr_batch&from=${T0}`, headers: bearer(f.tokens.doctor) })
    ).json<{ records: Array<{ data: { beats: { rr_ms: number[] } } }> }>().records;
    expect(rr).toHaveLength(1);
    expect(rr[0]!.data.beats.rr_ms).toHaveLength(1196);
    // The upload's windows count in the aggregate like the pipeline's.
    const agg = await f.app.inject({ method: 'GET', url: `/api/v1/patients/P-A/aggregates?metric=sdnn_ms&from=${T0}&to=${T0 + 86_400_000}`, headers: bearer(f.tokens.doctor) });
    expect(agg.json()).toMatchObject({ n: expected.filter((w) => w.sdnn_ms !== null).length });
  });

  it('a good ECG (2 min of MIT-BIH 100) → beats detected and labelled, NN windows analysed', async () => {
    const text = readSharedText('ecg_100.csv.gz').split('\n').slice(0, 43_300).join('\n');
    const res = await upload('ecg_file', { filename: 'ecg_100.csv', text }, T0 + 86_400_000);
    expect(res.statusCode).toBe(201);
    const file = res.json<{ data: { n_beats: number; windows: number } }>();
    // Record 100 runs at about 75 bpm: about 150 beats in 2 min.
    expect(file.data.n_beats).toBeGreaterThan(130);
    expect(file.data.n_beats).toBeLessThan(170);
    expect(file.data.windows).toBe(1);
  });

  it('a patient may not upload; a doctor may not upload files', async () => {
    const data = { filename: 'rr.csv', text: 'rr_ms\n800\n810\n' };
    const asPatient = await f.app.inject({ method: 'POST', url: '/api/v1/patients/P-A/records', payload: { type: 'rr_file', data }, headers: bearer(f.tokens.patient) });
    expect(asPatient.statusCode).toBe(403);
    const asDoctor = await f.app.inject({ method: 'POST', url: '/api/v1/patients/P-A/records', payload: { type: 'rr_file', data }, headers: bearer(f.tokens.doctor) });
    expect(asDoctor.statusCode).toBe(403);
  });
});
