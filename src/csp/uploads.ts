/**
 * Uploaded RR and ECG files become records the way the command line reads them: the same parsers
 * (parseRrText, parseSignalText), beat detection and labelling (detectEcgBeats, labelBeats, NN series),
 * RR cleaning and windowed analysis (cleanRr, analyzeWindows) as `hrvault hrv` and `hrvault detect`. A
 * file that does not parse is refused with the parser's `FILE:LINE: reason`; one that does yields its
 * file record plus one `hrv` record per analysis window and its beats as `rr_batch` records (one per hour), so its measures
 * sit beside the pipeline's on the patient page.
 */
import {
  analyzeWindows,
  cleanRr,
  detectEcgBeats,
  HrvError,
  HrvInputError,
  labelBeats,
  nnSeriesFromBeats,
  parseRrText,
  parseSignalText,
  type RrSeries,
} from '../hrv/index.js';
import { InputFileError } from '../errors.js';
import { MEASURE_NAMES, type EcgFileData, type HrvMeasures, type HrvRecordData, type RrBatchData, type RrFileData } from '../contracts/index.js';

/** Analysis window of an upload, s (the pipeline's sliding window is 5 min too). */
export const UPLOAD_WINDOW_S = 300;
/** Most analysis windows one upload may yield (48 h of 5-min windows); longer files are refused, not cut. */
export const MAX_UPLOAD_WINDOWS = 576;
/** Most beats one upload may carry (48 h at 100 bpm is 288,000). */
export const MAX_UPLOAD_BEATS = 300_000;
/** Beats are stored as one rr_batch record per hour of recording (each well under the contract's 100,000). */
export const RR_BATCH_SPAN_MS = 3_600_000;
/** Most ECG samples analysed (about 1 h at 250 Hz); beat detection is linear but not free. */
export const MAX_ECG_SAMPLES = 1_000_000;

/** What an upload yields: the completed file data and the derived records' data (times in epoch ms). */
export interface UploadAnalysis<D> {
  file: D;
  /** The recording's start, epoch ms. */
  start_ms: number;
  hrv: Array<{ t_ms: number; data: HrvRecordData }>;
  /** The beats, one record per RR_BATCH_SPAN_MS of recording. */
  rrBatches: Array<{ t_ms: number; data: RrBatchData }>;
}

/** The recording's start (epoch ms), or how to get it from the recording's length (ms). */
export type RecordingStart = number | ((durationMs: number) => number);

/** Maps the pure core's errors to input-file errors naming the uploaded file (as the CLI does). */
function fileError(file: string, err: unknown): unknown {
  if (err instanceof HrvInputError) return new InputFileError('HRV_ERR_PARSE', file, err.line, err.problem, { cause: err });
  if (err instanceof HrvError) return new InputFileError('HRV_ERR_FILE', file, undefined, err.message, { cause: err });
  return err;
}

/** One `hrv` record per window, an `rr_batch` of the beats; `startMs` is the recording's start. */
function derive(
  raw: RrSeries,
  fileName: string,
  fileRecord: string,
  start: RecordingStart,
): { hrv: UploadAnalysis<unknown>['hrv']; rrBatches: UploadAnalysis<unknown>['rrBatches']; windows: number; startMs: number } {
  if (raw.rrMs.length > MAX_UPLOAD_BEATS) throw new InputFileError('HRV_ERR_FILE', fileName, undefined, `more than ${MAX_UPLOAD_BEATS} beats; split the file`);
  const startMs = typeof start === 'number' ? start : start(raw.tMs.length > 0 ? raw.tMs[raw.tMs.length - 1]! : 0);
  const { series, report } = cleanRr(raw, { method: 'auto' });
  if (series.rrMs.length === 0) throw new InputFileError('HRV_ERR_FILE', fileName, undefined, `no intervals left after cleaning (${report.n_excluded} excluded)`);
  const lastS = series.tMs[series.tMs.length - 1]! / 1000;
  if (lastS / UPLOAD_WINDOW_S > MAX_UPLOAD_WINDOWS) {
    throw new InputFileError('HRV_ERR_FILE', fileName, undefined, `longer than ${(MAX_UPLOAD_WINDOWS * UPLOAD_WINDOW_S) / 3600} h (${MAX_UPLOAD_WINDOWS} windows of ${UPLOAD_WINDOW_S} s); split the file`);
  }
  let windows;
  try {
    windows = analyzeWindows(series, { windowS: UPLOAD_WINDOW_S });
  } catch (err) {
    throw fileError(fileName, err);
  }
  if (!windows.some((w) => w.sdnn_ms !== null)) {
    throw new InputFileError('HRV_ERR_FILE', fileName, undefined, 'too few beats: no window has 2 contiguous NN intervals');
  }
  const hrv = windows.map((w, i) => {
    const measures = Object.fromEntries(MEASURE_NAMES.map((k) => [k, w[k]])) as unknown as HrvMeasures;
    const data: HrvRecordData = {
      v: 1,
      source: { kind: 'upload', file_record: fileRecord, file_name: fileName, window: i },
      t_start_ms: startMs + w.start_s * 1000,
      t_end_ms: startMs + w.end_s * 1000,
      length_ms: UPLOAD_WINDOW_S * 1000,
      partial: w.end_s - w.start_s < UPLOAD_WINDOW_S,
      n: w.n_nn,
      measures: w.n_nn >= 2 ? measures : null,
      // Cleaning ran over the whole file; its summary is not a window's.
      cleaning: null,
      af_suspected: null,
      active_alerts: [],
      alerts: [],
      gap: 0,
    };
    // Record times are whole ms (the SP files them as integers); the window's own bounds stay exact.
    return { t_ms: Math.round(data.t_end_ms), data };
  });
  const rrBatches: UploadAnalysis<unknown>['rrBatches'] = [];
  for (let i = 0, hour = 0; i < raw.tMs.length; hour++) {
    const from = i;
    while (i < raw.tMs.length && raw.tMs[i]! < (hour + 1) * RR_BATCH_SPAN_MS) i++;
    if (i === from) continue;
    const beats = { t_ms: Array.from(raw.tMs.subarray(from, i), (t) => startMs + t), rr_ms: Array.from(raw.rrMs.subarray(from, i)) };
    rrBatches.push({
      t_ms: Math.round(beats.t_ms.at(-1)!),
      // `window` numbers the hour here: which stretch of the file these beats are.
      data: { v: 1, source: { kind: 'upload', file_record: fileRecord, file_name: fileName, window: hour }, beats },
    });
  }
  return { hrv, rrBatches, windows: windows.length, startMs };
}

/** Parses and analyses an uploaded RR file (CSV, Polar, Kubios text); throws InputFileError naming FILE:LINE. */
export function analyseRrUpload(data: RrFileData, fileRecord: string, startMs: RecordingStart): UploadAnalysis<RrFileData> {
  let raw: RrSeries;
  try {
    raw = parseRrText(data.text, data.filename);
  } catch (err) {
    throw fileError(data.filename, err);
  }
  const d = derive(raw, data.filename, fileRecord, startMs);
  return { file: { ...data, n_intervals: raw.rrMs.length, windows: d.windows }, start_ms: d.startMs, hrv: d.hrv, rrBatches: d.rrBatches };
}

/** Parses an uploaded ECG, detects and labels its beats, and analyses the NN series; throws InputFileError. */
export function analyseEcgUpload(data: EcgFileData, fileRecord: string, startMs: RecordingStart): UploadAnalysis<EcgFileData> {
  let nn: RrSeries;
  let nBeats: number;
  try {
    const parsed = parseSignalText(data.text, data.filename);
    const fs = data.fs_hz ?? parsed.fsHz;
    if (fs === undefined) {
      throw new InputFileError('HRV_ERR_FILE', data.filename, undefined, 'no sampling rate: give fs_hz (the file has no t_s column and no "# sampling_rate_hz:" line)');
    }
    if (parsed.values.length > MAX_ECG_SAMPLES) throw new InputFileError('HRV_ERR_FILE', data.filename, undefined, `more than ${MAX_ECG_SAMPLES} samples; split the file`);
    const peaks = detectEcgBeats(parsed.values, fs);
    const labels = labelBeats(parsed.values, fs, peaks);
    nBeats = peaks.length;
    nn = nnSeriesFromBeats(Array.from(peaks, (p, i) => ({ tS: parsed.tS ? parsed.tS[p]! : p / fs, symbol: labels[i]! })));
  } catch (err) {
    throw fileError(data.filename, err);
  }
  if (nn.rrMs.length < 2) throw new InputFileError('HRV_ERR_FILE', data.filename, undefined, `too few normal beats detected (${nBeats} beats)`);
  const d = derive(nn, data.filename, fileRecord, startMs);
  return { file: { ...data, n_beats: nBeats, windows: d.windows }, start_ms: d.startMs, hrv: d.hrv, rrBatches: d.rrBatches };
}
