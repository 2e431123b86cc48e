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
export function readBeats(record: string): AnnotatedBeat[] {
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

/** Every record in ../shared/data with ECG samples and beat annotations (see its README), in README order. */
export const ANNOTATED_ECG_RECORDS: readonly string[] = [
  '100', '105', '119',
  '116', '118', '200', '201', '203', '208', '210', '213', '214', '221', '223', '228', '231', '233',
  '118e24', '118e18', '118e12', '118e06', '118e00', '118e_6',
  '800', '801', '802', '803', '804', '805', '806', '807', '808', '809', '810', '811',
  'cu01', 'cu02', 'cu03', 'cu04', 'cu05', 'cu06', 'cu07', 'cu08', 'cu09', 'cu10', 'cu11', 'cu12',
];

/** Loads `ecg_<record>.csv.gz` of any annotated record (rate from its `#` header). */
export function readEcgRecord(record: string): EcgRecord {
  const text = readSharedText(`ecg_${record}.csv.gz`);
  const m = /sampling_rate_hz:\s*([0-9.]+)/.exec(text);
  const { rows } = parseCsv(text);
  const mv = new Float64Array(rows.length);
  rows.forEach((r, i) => (mv[i] = Number(r[1])));
  return { fsHz: m ? Number(m[1]) : 360, mv };
}

/** Loads `beats_<record>.csv` of any annotated record (t_s,sample,symbol). */
export function readBeatsRecord(record: string): AnnotatedBeat[] {
  return parseCsv(readSharedText(`beats_${record}.csv`)).rows.map((r) => ({
    tS: Number(r[0]),
    sample: Number(r[1]),
    symbol: (r[2] ?? '').trim(),
  }));
}

/** A non-beat annotation: time s, sample, WFDB symbol (`+`, `~`, `[`, `]`, …) and aux text (e.g. `(VF`). */
export interface OtherAnnotation extends AnnotatedBeat {
  aux: string;
}

/** Loads `other_annotations_<record>.csv` (t_s,sample,symbol[,aux]); empty when the file is missing. */
export function readOtherAnnotations(record: string): OtherAnnotation[] {
  const name = `other_annotations_${record}.csv`;
  if (!existsSync(join(SHARED_DATA_DIR, name))) return [];
  return parseCsv(readSharedText(name)).rows.map((r) => ({
    tS: Number(r[0]),
    sample: Number(r[1]),
    symbol: (r[2] ?? '').trim(),
    aux: (r[3] ?? '').trim(),
  }));
}

/**
 * Sample ranges [from, to) of ventricular flutter/fibrillation, which EC57 leaves out of beat scoring:
 * between `[` and `]` annotations, and rhythm stretches `(VF`/`(VFL` up to the next rhythm change.
 */
export function vfRanges(record: string, nSamples: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let open = -1;
  let rhythmOpen = -1;
  for (const a of readOtherAnnotations(record)) {
    if (a.symbol === '[') open = a.sample;
    else if (a.symbol === ']' && open >= 0) {
      out.push([open, a.sample]);
      open = -1;
    }
    if (a.symbol === '+') {
      if (rhythmOpen >= 0) out.push([rhythmOpen, a.sample]);
      rhythmOpen = a.aux.startsWith('(VF') ? a.sample : -1;
    }
  }
  if (open >= 0) out.push([open, nSamples]);
  if (rhythmOpen >= 0) out.push([rhythmOpen, nSamples]);
  return out;
}
