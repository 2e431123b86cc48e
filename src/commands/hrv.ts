/**
 * `hrvault hrv FILE`: HRV measures of an RR file, per window. Reads the gateway's batch format, a column of
 * RR intervals, or a Polar/Kubios RR text export (`.gz` transparently), cleans it (unless
 * `--correction none`) and prints the full measure set of every window as JSON or as tables.
 *
 * A window with too few intervals for a measure reports null for it; only when no window can be analysed
 * at all (not even SDNN, which needs two intervals) is the input rejected, with the window named.
 */
import { Option, type Command } from 'commander';
import {
  HrvError,
  HrvInputError,
  analyzeWindows,
  cleanRr,
  parseRrText,
  type PsdMethod,
  type RrCleaningReport,
  type WindowResult,
} from '../hrv/index.js';
import { InputFileError } from '../errors.js';
import { boundedNumber, choice, processIo, type CommandIo } from './io.js';
import { readInputText } from './read-input.js';

export interface HrvCommandOptions {
  windowS: number;
  stepS?: number;
  psd: PsdMethod;
  correction: 'auto' | 'none';
  json?: boolean;
}

/** The JSON document `hrvault hrv --json` prints. */
export interface HrvReport {
  windows: WindowResult[];
  correction: RrCleaningReport;
}

/** Turns errors of the pure core into one-line errors naming the file. */
export function asFileError(file: string, err: unknown): unknown {
  if (err instanceof HrvInputError) return new InputFileError('HRV_ERR_PARSE', file, err.line, err.problem, { cause: err });
  if (err instanceof HrvError) return new InputFileError('HRV_ERR_FILE', file, undefined, err.message, { cause: err });
  return err;
}

/** Reads, cleans and analyses FILE; the result of `hrvault hrv FILE --json`. */
export async function hrvReport(file: string, options: HrvCommandOptions): Promise<HrvReport> {
  const text = await readInputText(file);
  try {
    const parsed = parseRrText(text, file);
    const { series, report } = cleanRr(parsed, { method: options.correction });
    if (series.rrMs.length === 0) {
      throw new InputFileError('HRV_ERR_FILE', file, undefined, `no intervals left after cleaning (${report.n_excluded} excluded); try --correction none`);
    }
    const windowOptions = { windowS: options.windowS, psd: options.psd, ...(options.stepS === undefined ? {} : { stepS: options.stepS }) };
    const windows = analyzeWindows(series, windowOptions);
    if (!windows.some((w) => w.sdnn_ms !== null)) {
      const best = windows.reduce((a, b) => (b.n_nn > a.n_nn ? b : a));
      throw new InputFileError(
        'HRV_ERR_FILE',
        file,
        undefined,
        `too few beats: window ${best.start_s}–${best.end_s} s has ${best.n_nn} NN interval${best.n_nn === 1 ? '' : 's'}` +
          `${windows.length > 1 ? ' (the most of any window)' : ''}; at least 2 contiguous are needed` +
          `${options.windowS > 0 ? ' (try --window-s 0 for one window over the whole file)' : ''}`,
      );
    }
    return { windows, correction: report };
  } catch (err) {
    throw asFileError(file, err);
  }
}

type Key = keyof WindowResult;
const GROUPS: Array<{ title: string; cols: Array<[Key, string]> }> = [
  {
    title: 'Time domain (ms; pNN %, HR bpm)',
    cols: [
      ['mean_nn_ms', 'mean_nn'],
      ['sdnn_ms', 'sdnn'],
      ['rmssd_ms', 'rmssd'],
      ['sdsd_ms', 'sdsd'],
      ['pnn50_pct', 'pnn50'],
      ['pnn20_pct', 'pnn20'],
      ['mean_hr_bpm', 'hr'],
      ['hti', 'hti'],
      ['tinn_ms', 'tinn'],
    ],
  },
  {
    title: 'Frequency domain (ms², n.u., Hz)',
    cols: [
      ['vlf_ms2', 'vlf'],
      ['lf_ms2', 'lf'],
      ['hf_ms2', 'hf'],
      ['total_power_ms2', 'total'],
      ['lf_hf', 'lf/hf'],
      ['lf_nu', 'lf_nu'],
      ['hf_nu', 'hf_nu'],
      ['peak_lf_hz', 'pk_lf'],
      ['peak_hf_hz', 'pk_hf'],
    ],
  },
  {
    title: 'Nonlinear (Poincaré ms; SampEn m=2, r=0.2·SD; DFA α1 4–16, α2 16–64 beats)',
    cols: [
      ['sd1_ms', 'sd1'],
      ['sd2_ms', 'sd2'],
      ['sd1_sd2', 'sd1/sd2'],
      ['sampen', 'sampen'],
      ['dfa_alpha1', 'dfa_a1'],
      ['dfa_alpha2', 'dfa_a2'],
    ],
  },
];

const CELL = 7;

/** A value in at most 7 characters: 4 significant digits where they fit, '—' for null. */
export function formatValue(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e6 || a < 1e-3) return v.toExponential(1);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 10) return v.toFixed(2);
  return v.toFixed(3);
}

/** Readable tables (one per measure group, windows as rows), each under 100 columns wide. */
export function formatHrvTable(report: HrvReport): string {
  const lines: string[] = [];
  const pad = (s: string) => s.padStart(CELL);
  const c = report.correction;
  lines.push(
    c.method === 'none'
      ? `RR cleaning off: ${c.n_input} intervals used as given`
      : `RR cleaning: ${c.n_input} intervals, ${c.n_kept} kept (${c.n_corrected} corrected), ${c.n_excluded} excluded\n` +
          `  excluded: ${c.n_out_of_range} out of range, ${c.n_ectopic} ectopic, ${c.n_artefact} artefact`,
  );
  for (const g of GROUPS) {
    lines.push('', g.title);
    lines.push([pad('start_s'), pad('end_s'), pad('n_nn'), ...g.cols.map(([, h]) => pad(h))].join(' '));
    for (const w of report.windows) {
      const cells = [pad(String(w.start_s)), pad(String(w.end_s)), pad(String(w.n_nn))];
      for (const [k] of g.cols) cells.push(pad(formatValue(w[k])));
      lines.push(cells.join(' '));
    }
  }
  lines.push('', '— : too few intervals in the window for that measure');
  return lines.join('\n') + '\n';
}

/** Registers `hrvault hrv`. */
export function registerHrvCommand(program: Command, io: CommandIo = processIo): void {
  program
    .command('hrv')
    .description('HRV measures of an RR file (time_ms,rr_ms CSV, one column of RR in ms, or a Polar/Kubios RR export), per window')
    .argument('<file>', 'RR file; .gz is read transparently')
    .option('--window-s <s>', 'window length, s (0: one window over the whole file; else ≥ 1)', boundedNumber('--window-s', { min: 1, zeroOk: true, unit: ' s' }), 300)
    .option('--step-s <s>', 'step between window starts, s (default: the window length; ≥ 0.1)', boundedNumber('--step-s', { min: 0.1, unit: ' s' }))
    .addOption(new Option('--psd <method>', 'spectrum: welch (4 Hz spline) or lomb (Lomb–Scargle)').argParser(choice('--psd', ['welch', 'lomb'] as const)).default('welch'))
    .addOption(new Option('--correction <method>', 'RR cleaning of ectopic beats and artefacts: auto or none').argParser(choice('--correction', ['auto', 'none'] as const)).default('auto'))
    .option('--json', 'print JSON: {"windows": [...], "correction": {...}}')
    .action(async (file: string, options: HrvCommandOptions) => {
      const report = await hrvReport(file, options);
      io.out(options.json ? JSON.stringify(report) + '\n' : formatHrvTable(report));
    });
}
