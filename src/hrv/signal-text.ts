/**
 * Raw signal text (ECG or PPG as CSV): the last numeric column is the signal, a `t_s` (or `time_s`,
 * `time_ms`) column gives sample times, `#` lines are comments and `# sampling_rate_hz: N` gives the
 * rate. A non-numeric first line is a header. Pure: text in, arrays out.
 */
import { HrvInputError } from './errors.js';
import { DECIMAL_COMMA, splitFields } from './text-fields.js';

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A parsed signal: values, optional sample times (s), and the sampling rate (Hz) when the file states or implies one. */
export interface SignalText {
  /** Sample times, s, when the file has a time column (irregular for camera PPG). */
  tS?: Float64Array;
  values: Float64Array;
  /** From a `# sampling_rate_hz:` comment, else 1 / median time step. */
  fsHz?: number;
  /** 1 / median time step, Hz, when the file has a time column (whatever a comment says). */
  fsFromTimeHz?: number;
}

/**
 * Largest signal magnitude accepted: beyond the counts of any 32-bit ADC. Larger values are corrupt, and
 * their squares (filters, energies) overflow to Infinity and silently wipe out every beat.
 */
export const MAX_ABS_SIGNAL = 1e10;
/** Relative disagreement between a stated sampling rate and the time column's that is refused. */
export const FS_MISMATCH = 0.02;

/** 1 / median step of increasing times, Hz. */
export function rateFromTimes(tS: Float64Array): number {
  const n = tS.length;
  const d = new Float64Array(n - 1);
  for (let i = 1; i < n; i++) d[i - 1] = tS[i]! - tS[i - 1]!;
  d.sort();
  const m = d.length >> 1;
  const med = d.length % 2 === 1 ? d[m]! : (d[m - 1]! + d[m]!) / 2;
  return 1 / med;
}


/** Parses a signal CSV (see the module comment); `column` picks the signal column by header name; `sourceName` names the text in errors. */
export function parseSignalText(text: string, sourceName: string, options: { column?: string } = {}): SignalText {
  const lines = text.split(/\r\n|\n|\r/);
  let fsFromComment: number | undefined;
  let fsLine = 0;
  let header: string[] | undefined;
  let width = 0;
  let timeCol = -1;
  let timeScale = 1;
  let signalCol = -1;
  let values = new Float64Array(1024);
  let times: Float64Array | undefined;
  let n = 0;
  let prevFirst = -Infinity;
  for (let li = 0; li < lines.length; li++) {
    const raw = lines[li]!.trim();
    const lineNo = li + 1;
    if (raw === '') continue;
    if (raw.startsWith('#')) {
      const m = /^#\s*(?:sampling_rate_hz|fs_hz|fs)\s*[:=]\s*(\S+)/i.exec(raw);
      if (m) {
        const fs = Number(m[1]);
        if (!NUMBER.test(m[1]!) || !(fs > 0)) throw new HrvInputError(sourceName, lineNo, `sampling rate "${m[1]}" is not a positive number`);
        fsFromComment = fs;
        fsLine = lineNo;
      }
      continue;
    }
    const { fields, commaSeparated } = splitFields(raw);
    if (width === 0) {
      if (header === undefined && fields.some((f) => !NUMBER.test(f))) {
        header = fields;
        continue;
      }
      width = fields.length;
      if (header !== undefined) {
        if (header.length !== width) {
          const hint =
            commaSeparated && width === 2 * header.length
              ? ': decimal commas in a comma-separated file are ambiguous; write decimal points or separate fields with \';\''
              : '';
          throw new HrvInputError(sourceName, lineNo, `expected ${header.length} fields as in the header, found ${width}${hint}`);
        }
        timeCol = header.findIndex((h) => /^(t_s|time_s|time|t|t_ms|time_ms)$/i.test(h.trim()));
        if (timeCol >= 0 && /ms$/i.test(header[timeCol]!.trim())) timeScale = 1e-3;
      }
      signalCol = width - 1;
      if (options.column !== undefined) {
        const want = options.column.trim().toLowerCase();
        signalCol = header ? header.findIndex((h) => h.trim().toLowerCase() === want) : -1;
        if (signalCol < 0) {
          throw new HrvInputError(sourceName, lineNo, `no column named "${options.column}"${header ? ` (columns: ${header.join(', ')})` : ' (the file has no header)'}`);
        }
      }
      if (timeCol === signalCol) throw new HrvInputError(sourceName, lineNo, 'the signal column is the time column');
      if (timeCol >= 0) times = new Float64Array(values.length);
    }
    if (fields.length !== width) throw new HrvInputError(sourceName, lineNo, `expected ${width} fields, found ${fields.length}`);
    // Headerless "0,115" lines: one column with decimal commas, or an index/time and a value? A first
    // field that does not increase is no index or time, so the commas must be decimal marks: refuse rather
    // than take the fractional digits for the signal.
    if (header === undefined && commaSeparated && width === 2 && DECIMAL_COMMA.test(raw)) {
      const first = Number(fields[0]);
      if (!(first > prevFirst)) {
        throw new HrvInputError(sourceName, lineNo, `"${raw}" looks like a number with a decimal comma (the first column does not increase); write decimal points or add a header`);
      }
      prevFirst = first;
    }
    const v = fields[signalCol]!;
    if (!NUMBER.test(v)) throw new HrvInputError(sourceName, lineNo, `signal value "${v}" is not a number`);
    if (n === values.length) {
      const grown = new Float64Array(n * 2);
      grown.set(values);
      values = grown;
      if (times) {
        const gt = new Float64Array(n * 2);
        gt.set(times);
        times = gt;
      }
    }
    const value = Number(v);
    if (!Number.isFinite(value)) throw new HrvInputError(sourceName, lineNo, `signal value ${v} is not a finite number (overflows)`);
    if (Math.abs(value) > MAX_ABS_SIGNAL) {
      throw new HrvInputError(sourceName, lineNo, `signal value ${v} is absurd (beyond ±${MAX_ABS_SIGNAL}, more than any ADC gives)`);
    }
    values[n] = value;
    if (times) {
      const f = fields[timeCol]!;
      if (!NUMBER.test(f)) throw new HrvInputError(sourceName, lineNo, `sample time "${f}" is not a number`);
      const t = Number(f) * timeScale;
      if (!Number.isFinite(t)) throw new HrvInputError(sourceName, lineNo, `sample time ${f} is not a finite number (overflows)`);
      if (n > 0 && !(t > times[n - 1]!)) {
        throw new HrvInputError(sourceName, lineNo, `sample time ${f} goes backwards (previous ${times[n - 1]! / timeScale})`);
      }
      times[n] = t;
    }
    n++;
  }
  if (n === 0) throw new HrvInputError(sourceName, undefined, 'no signal samples (empty file)');
  const out: SignalText = { values: values.slice(0, n) };
  if (times) out.tS = times.slice(0, n);
  if (out.tS && n >= 2) out.fsFromTimeHz = rateFromTimes(out.tS);
  if (fsFromComment !== undefined) {
    // A stated rate that the time column contradicts means one of them is wrong: refuse rather than guess.
    if (out.fsFromTimeHz !== undefined && Math.abs(fsFromComment / out.fsFromTimeHz - 1) > FS_MISMATCH) {
      throw new HrvInputError(
        sourceName,
        fsLine,
        `sampling rate ${fsFromComment} Hz contradicts the time column (median step gives ${Number(out.fsFromTimeHz.toPrecision(6))} Hz)`,
      );
    }
    out.fsHz = fsFromComment;
  } else if (out.fsFromTimeHz !== undefined) out.fsHz = out.fsFromTimeHz;
  return out;
}
