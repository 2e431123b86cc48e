/**
 * Test and benchmark access to the reference records in ../shared/data (see its README). Tests call
 * `sharedDataOrSkip()` and skip with a printed reason when the folder is missing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';

/** Absolute path of ../shared/data relative to the project root. */
export const SHARED_DATA_DIR = resolve(fileURLToPath(new URL('../../', import.meta.url)), '../shared/data');

/** True when the shared reference data is present. */
export function hasSharedData(): boolean {
  return existsSync(join(SHARED_DATA_DIR, 'reference_hrv.json'));
}

/** Reason printed by tests that skip because the data is missing. */
export const SHARED_DATA_SKIP_REASON = `skipped: reference data not found at ${SHARED_DATA_DIR}`;

/** Reads a file from the shared data folder as text, gunzipping `.gz` files. */
export function readSharedText(name: string): string {
  const buf = readFileSync(join(SHARED_DATA_DIR, name));
  return (name.endsWith('.gz') ? gunzipSync(buf) : buf).toString('utf8');
}

/** Parses the shared data's CSV text: skips `#` comments and a non-numeric header; returns columns. */
function parseCsv(text: string): { header: string[]; rows: string[][] } {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0 && !l.startsWith('#'));
  const first = lines[0]?.split(',') ?? [];
  const hasHeader = first.some((f) => f.trim() !== '' && Number.isNaN(Number(f)));
  return { header: hasHeader ? first : [], rows: (hasHeader ? lines.slice(1) : lines).map((l) => l.split(',')) };
}

/** An MIT-BIH ECG record: samples in mV at fsHz. */
export interface EcgRecord {
  fsHz: number;
  mv: Float64Array;
}

/** Loads `ecg_<record>.csv.gz` (rows t_s,mV; 360 Hz). */
export function readEcg(record: '100' | '105' | '119'): EcgRecord {
  const text = readSharedText(`ecg_${record}.csv.gz`);
  const m = /sampling_rate_hz:\s*([0-9.]+)/.exec(text);
  const { rows } = parseCsv(text);
  const mv = new Float64Array(rows.length);
  rows.forEach((r, i) => (mv[i] = Number(r[1])));
  return { fsHz: m ? Number(m[1]) : 360, mv };
}

/** An annotated beat: time s, sample index and WFDB symbol. */
export interface AnnotatedBeat {
  tS: number;
  sample: number;
  symbol: string;
}

/** Loads `beats_<record>.csv[.gz]` (t_s,sample,symbol). */
export function readBeats(record: '100' | '105' | '119' | 'nsr001'): AnnotatedBeat[] {
  const name = record === 'nsr001' ? 'beats_nsr001.csv.gz' : `beats_${record}.csv`;
  return parseCsv(readSharedText(name)).rows.map((r) => ({
    tS: Number(r[0]),
    sample: Number(r[1]),
    symbol: (r[2] ?? '').trim(),
  }));
}

/** Loads a one-column RR file (`rr_ms`), e.g. `rr_welltory_s01.csv` or `rr_ec57_tp2.csv.gz`. */
export function readRrColumn(name: string): Float64Array {
  return Float64Array.from(parseCsv(readSharedText(name)).rows.map((r) => Number(r[0])));
}

/** The parsed reference_hrv.json (NeuroKit2, pyHRV, hrv-analysis values). */
export function readReferenceHrv(): Record<string, unknown> {
  return JSON.parse(readSharedText('reference_hrv.json')) as Record<string, unknown>;
}

/** The parsed JSON of another reference file (detector_reference.json, ppg_reference.json). */
export function readReferenceJson(name: string): Record<string, unknown> {
  return JSON.parse(readSharedText(name)) as Record<string, unknown>;
}
