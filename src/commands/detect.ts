/**
 * `hrvault detect FILE --fs HZ [--signal ecg|ppg]`: beat times from a raw signal. The last numeric column
 * of the CSV is the signal (or the one `--column` names; `--column auto` picks the PPG colour channel with
 * the most regular pulse); `--fs` may be left out when a `t_s` column or a
 * `# sampling_rate_hz:` comment gives the rate. ECG beats are labelled N or V from their shape and timing;
 * PPG pulses carry no morphology that tells a ventricular beat, so every PPG beat is labelled N.
 * `rr_ms` holds the n − 1 intervals between consecutive beats.
 */
import { Option, type Command } from 'commander';
import * as hrv from '../hrv/index.js';
import { InputFileError } from '../errors.js';
import { asFileError } from './hrv.js';
import { boundedNumber, choice, processIo, type CommandIo } from './io.js';
import { readInputText } from './read-input.js';

export interface DetectCommandOptions {
  fs?: number;
  signal: 'ecg' | 'ppg';
  column?: string;
  json?: boolean;
}

/** The JSON document `hrvault detect --json` prints. */
export interface DetectReport {
  /** Sampling rate used, Hz (for PPG with irregular frames: 1 / median frame interval). */
  fs: number;
  /** Beat times, s, on the file's time axis (sample index / fs when the file has no time column). */
  beats_s: number[];
  labels: hrv.BeatLabel[];
  /** Intervals between consecutive beats, ms (one fewer than beats). */
  rr_ms: number[];
  /** Rhythm of the detected beats: suspected AF and the irregularity figure behind it (see hrv's assessRhythm). */
  rhythm: hrv.RhythmAssessment;
}

/** Header names of the signal columns (all but a time column), from the first non-comment line. */
function signalColumnNames(text: string): string[] {
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '' && !l.trim().startsWith('#')) ?? '';
  const names = first.trim().split(/\s*[,;\t]\s*|\s+/);
  if (names.every((n) => /^[+-]?[\d.]/.test(n))) return [];
  return names.filter((n) => !/^(t_s|time_s|time|t|t_ms|time_ms)$/i.test(n));
}

/** `--column auto` for PPG: the colour channel whose pulse is most regular (see rankPpgChannels). */
function bestPpgColumn(text: string, file: string): string {
  const names = signalColumnNames(text);
  if (names.length === 0) throw new InputFileError('HRV_ERR_FILE', file, undefined, '--column auto needs a header naming the columns');
  const parsed = names.map((n) => hrv.parseSignalText(text, file, { column: n }));
  const tS = parsed[0]!.tS;
  if (!tS) throw new InputFileError('HRV_ERR_FILE', file, undefined, '--column auto needs a t_s column');
  const ranked = hrv.rankPpgChannels(tS, Object.fromEntries(names.map((n, i) => [n, parsed[i]!.values])));
  const best = ranked[0];
  if (!best || best.periodicity === null) throw new InputFileError('HRV_ERR_FILE', file, undefined, 'no column carries a usable pulse');
  return best.name;
}

/** Reads FILE and detects its beats; the result of `hrvault detect FILE --json`. */
export async function detectReport(file: string, options: DetectCommandOptions): Promise<DetectReport> {
  const text = await readInputText(file);
  try {
    const column = options.column === 'auto' ? (options.signal === 'ppg' ? bestPpgColumn(text, file) : undefined) : options.column;
    if (options.column === 'auto' && options.signal !== 'ppg') {
      throw new InputFileError('HRV_ERR_FILE', file, undefined, '--column auto chooses among PPG colour channels; use it with --signal ppg');
    }
    const parsed = hrv.parseSignalText(text, file, column === undefined ? {} : { column });
    // A rate given on the command line that the file's own time column contradicts: one of them is wrong.
    if (options.fs !== undefined && parsed.fsFromTimeHz !== undefined && Math.abs(options.fs / parsed.fsFromTimeHz - 1) > hrv.FS_MISMATCH) {
      throw new InputFileError('HRV_ERR_FILE', file, undefined, `--fs ${options.fs} Hz contradicts the time column (${Number(parsed.fsFromTimeHz.toPrecision(6))} Hz)`);
    }
    if (options.fs !== undefined && parsed.fsHz !== undefined && parsed.tS === undefined && Math.abs(options.fs / parsed.fsHz - 1) > hrv.FS_MISMATCH) {
      throw new InputFileError('HRV_ERR_FILE', file, undefined, `--fs ${options.fs} Hz contradicts the file's stated sampling rate (${parsed.fsHz} Hz)`);
    }
    const fs = options.fs ?? parsed.fsHz;
    if (fs === undefined) {
      throw new InputFileError('HRV_ERR_FILE', file, undefined, 'no sampling rate: give --fs HZ (the file has no t_s column and no "# sampling_rate_hz:" line)');
    }
    const n = parsed.values.length;
    const tS = parsed.tS ?? Float64Array.from({ length: n }, (_, i) => i / fs);
    let beats: Float64Array;
    let labels: hrv.BeatLabel[];
    if (options.signal === 'ecg') {
      const peaks = hrv.detectEcgBeats(parsed.values, fs);
      labels = hrv.labelBeats(parsed.values, fs, peaks);
      beats = Float64Array.from(peaks, (p) => (parsed.tS ? parsed.tS[p]! : p / fs));
    } else {
      beats = hrv.detectPpgBeats(tS, parsed.values);
      labels = new Array<hrv.BeatLabel>(beats.length).fill('N');
    }
    const rr: number[] = [];
    for (let i = 1; i < beats.length; i++) rr.push((beats[i]! - beats[i - 1]!) * 1000);
    const rhythm = hrv.assessRhythm({ tMs: Float64Array.from(beats.subarray(1), (b) => b * 1000), rrMs: Float64Array.from(rr) });
    return { fs, beats_s: Array.from(beats), labels, rr_ms: rr, rhythm };
  } catch (err) {
    throw asFileError(file, err);
  }
}

/** Summary line and one row per beat: time, label, interval to the previous beat. */
export function formatDetectTable(r: DetectReport): string {
  const nV = r.labels.filter((l) => l === 'V').length;
  const meanRr = r.rr_ms.length > 0 ? r.rr_ms.reduce((a, b) => a + b, 0) / r.rr_ms.length : NaN;
  const irr = r.rhythm.irregularity;
  const lines = [
    `${r.beats_s.length} beats (${nV} V) at ${Number(r.fs.toFixed(3))} Hz` +
      (Number.isFinite(meanRr) ? `; mean RR ${meanRr.toFixed(1)} ms, mean HR ${(60000 / meanRr).toFixed(1)} bpm` : ''),
    `rhythm: ${r.rhythm.af_suspected ? 'IRREGULAR — suspected atrial fibrillation' : 'no AF suspected'}` +
      ` (irregularity ${irr === null ? '— (too few beats)' : irr.toFixed(3)}, threshold ${r.rhythm.irregularity_threshold})`,
    `${'t_s'.padStart(10)} ${'label'.padStart(5)} ${'rr_ms'.padStart(8)}`,
  ];
  r.beats_s.forEach((t, i) => {
    lines.push(`${t.toFixed(3).padStart(10)} ${r.labels[i]!.padStart(5)} ${(i === 0 ? '' : r.rr_ms[i - 1]!.toFixed(1)).padStart(8)}`);
  });
  return lines.join('\n') + '\n';
}

/** Registers `hrvault detect`. */
export function registerDetectCommand(program: Command, io: CommandIo = processIo): void {
  program
    .command('detect')
    .description('beat times from a raw ECG or PPG signal (CSV; the last numeric column is the signal)')
    .argument('<file>', 'signal CSV; # lines are comments; .gz is read transparently')
    .option('--fs <hz>', 'sampling rate, Hz (optional when a t_s column or "# sampling_rate_hz:" gives it)', boundedNumber('--fs', { min: 0, strict: true, unit: ' Hz' }))
    .addOption(new Option('--signal <kind>', 'signal type: ecg or ppg').argParser(choice('--signal', ['ecg', 'ppg'] as const)).default('ecg'))
    .option('--column <name>', 'header name of the signal column (default: the last column; "auto" with --signal ppg: the most regular colour channel)')
    .option('--json', 'print JSON: {"fs", "beats_s", "labels", "rr_ms", "rhythm"}')
    .action(async (file: string, options: DetectCommandOptions) => {
      const report = await detectReport(file, options);
      io.out(options.json ? JSON.stringify(report) + '\n' : formatDetectTable(report));
    });
}
