/**
 * `hrvault hrv FILE`: HRV measures of an RR file, per window. Reads the gateway's batch format, a column of
 * RR intervals, or a Polar/Kubios RR text export (`.gz` transparently), cleans it (unless
 * `--correction none`) and prints the full measure set of every window as JSON or as tables.
 *
 * A window with too few intervals for a measure reports null for it; only when no window can be analysed
 * at all (not even SDNN, which needs two intervals) is the input rejected, with the window named.
 *
 * Besides the measures, every window carries `af_suspected` and `irregularity` (assessRhythm on the
 * window's uncleaned intervals), `excluded_fraction` and `excluded_over_limit` (> 20% excluded by
 * cleaning), `partial` and `covered_s`; the correction summary names the suspected-AF blocks left
 * uncorrected (`af_spans_s`, `n_af_uncorrected`) and the runs of missed beats restored (`missed_beat_runs`).
 */
import { Option, type Command } from 'commander';
import {
  HrvError,
  HrvInputError,
  analyzeWindows,
  assessRhythm,
  cleanRr,
  parseRrText,
  type AnalysedWindow,
  type PsdMethod,
  type RrCleaningReport,
  type RrSeries,
} from '../hrv/index.js';
import { InputFileError } from '../errors.js';
import { boundedNumber, choice, processIo, type CommandIo } from './io.js';
import { readInputText } from './read-input.js';

export interface HrvCommandOptions {
  windowS: number;
  stepS?: number;
  psd: PsdMethod;
  correction: 'auto' | 'none';
  /** Physiological limits of an interval, ms (cleaning excludes intervals outside them). */
  minRrMs?: number;
  maxRrMs?: number;
  /** Keep long intervals that are no whole number of cycles (pauses) instead of excluding them. */
  keepPauses?: boolean;
  json?: boolean;
}

/**
 * Largest share of a window's input intervals that cleaning may exclude before the window is flagged
 * (`excluded_over_limit`): beyond it the NN series is more gap than data and its measures describe what
 * is left, not the recording.
 */
export const MAX_EXCLUDED_FRACTION = 0.2;

/** One window of `hrvault hrv --json`: the measures plus rhythm and data-quality flags. */
export interface HrvWindow extends AnalysedWindow {
  /** Irregular rhythm (suspected AF) in the window's uncleaned intervals (see assessRhythm). */
  af_suspected: boolean;
  /** The irregularity figure behind it (median |ΔRR| / local RR after ectopic removal), null when too few intervals. */
  irregularity: number | null;
  /** Share of the window's input intervals that cleaning excluded (0–1), null when it has none. */
  excluded_fraction: number | null;
  /** True when more than 20% of the window's intervals were excluded: treat its measures with caution. */
  excluded_over_limit: boolean;
}

/** The JSON document `hrvault hrv --json` prints. */
export interface HrvReport {
  windows: HrvWindow[];
  correction: RrCleaningReport;
}

/** How many of the times `xs` (ms) lie in [lo, hi). */
function countIn(xs: Float64Array, lo: number, hi: number): number {
  let c = 0;
  for (const x of xs) if (x >= lo && x < hi) c++;
  return c;
}

/** The intervals of `s` whose two beats both lie in [lo, hi) ms (a view, no copy). */
function slice(s: RrSeries, lo: number, hi: number): RrSeries {
  let a = 0;
  while (a < s.tMs.length && s.tMs[a]! - s.rrMs[a]! < lo) a++;
  let b = a;
  while (b < s.tMs.length && s.tMs[b]! < hi) b++;
  return { tMs: s.tMs.subarray(a, b), rrMs: s.rrMs.subarray(a, b) };
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
    const limits = {
      ...(options.minRrMs === undefined ? {} : { minRrMs: options.minRrMs }),
      ...(options.maxRrMs === undefined ? {} : { maxRrMs: options.maxRrMs }),
      keepPauses: options.keepPauses === true,
    };
    const { series, report, excludedTMs } = cleanRr(parsed, { method: options.correction, ...limits });
    if (series.rrMs.length === 0) {
      throw new InputFileError('HRV_ERR_FILE', file, undefined, `no intervals left after cleaning (${report.n_excluded} excluded); try --correction none`);
    }
    const windowOptions = { windowS: options.windowS, psd: options.psd, ...(options.stepS === undefined ? {} : { stepS: options.stepS }) };
    const analysed = analyzeWindows(series, windowOptions);
    const windows: HrvWindow[] = analysed.map((w) => {
      const lo = w.start_s * 1000;
      const hi = options.windowS === 0 ? Infinity : w.end_s * 1000;
      const raw = options.windowS === 0 ? parsed : slice(parsed, lo, hi);
      const rhythm = assessRhythm(raw);
      const excluded = countIn(excludedTMs, options.windowS === 0 ? -Infinity : lo, hi);
      const fraction = raw.rrMs.length > 0 ? excluded / raw.rrMs.length : null;
      return {
        ...w,
        af_suspected: rhythm.af_suspected,
        irregularity: rhythm.irregularity,
        excluded_fraction: fraction,
        excluded_over_limit: fraction !== null && fraction > MAX_EXCLUDED_FRACTION,
      };
    });
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

type Key = keyof AnalysedWindow;
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
          `  excluded: ${c.n_out_of_range} out of range, ${c.n_ectopic} ectopic, ${c.n_artefact} artefact` +
          (c.missed_beat_runs.length > 0
            ? `\n  missed beats restored: ${c.missed_beat_runs.reduce((a, r) => a + r.n_missed, 0)} in ${c.missed_beat_runs.length} run${c.missed_beat_runs.length === 1 ? '' : 's'}`
            : '') +
          (c.af_suspected
            ? `\n  irregular rhythm (suspected AF) in ${c.af_spans_s.map(([a, b]) => `${a}–${b} s`).join(', ')}: not corrected there (${c.n_af_uncorrected} intervals as recorded)`
            : ''),
  );
  const flagged = report.windows.filter((w) => w.af_suspected || w.excluded_over_limit || w.partial);
  for (const w of flagged) {
    const why = [
      w.af_suspected ? `suspected AF (irregularity ${formatValue(w.irregularity)})` : '',
      w.excluded_over_limit ? `${Math.round(100 * w.excluded_fraction!)}% of intervals excluded` : '',
      w.partial ? `partial (${formatValue(w.covered_s)} s of data)` : '',
    ].filter((x) => x !== '');
    lines.push(`window ${w.start_s}–${w.end_s} s: ${why.join('; ')}`);
  }
  for (const g of GROUPS) {
    lines.push('', g.title);
    lines.push([pad('start_s'), pad('end_s'), pad('n_nn'), ...g.cols.map(([, h]) => pad(h))].join(' '));
    for (const w of report.windows) {
      const cells = [pad(String(w.start_s)), pad(String(w.end_s)), pad(String(w.n_nn))];
      for (const [k] of g.cols) cells.push(pad(formatValue(w[k] as number | null)));
      lines.push(cells.join(' '));
    }
  }
  lines.push('', '— : too few intervals (or too short a window) for that measure');
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
    .addOption(new Option('--psd <method>', 'spectrum: lomb (Lomb–Scargle, default) or welch (4 Hz spline, corrected for its transfer function)').argParser(choice('--psd', ['welch', 'lomb'] as const)).default('lomb'))
    .addOption(new Option('--correction <method>', 'RR cleaning of ectopic beats and artefacts: auto or none').argParser(choice('--correction', ['auto', 'none'] as const)).default('auto'))
    .option('--min-rr-ms <ms>', 'shortest plausible interval, ms (default 250)', boundedNumber('--min-rr-ms', { min: 100, max: 10000, unit: ' ms' }))
    .option('--max-rr-ms <ms>', 'longest plausible interval, ms (default 3000 = 20 bpm)', boundedNumber('--max-rr-ms', { min: 300, max: 60000, unit: ' ms' }))
    .option('--keep-pauses', 'keep long intervals that are no whole number of cycles (sinus pauses) instead of excluding them')
    .option('--json', 'print JSON: {"windows": [...], "correction": {...}}')
    .action(async (file: string, options: HrvCommandOptions) => {
      const report = await hrvReport(file, options);
      io.out(options.json ? JSON.stringify(report) + '\n' : formatHrvTable(report));
    });
}
