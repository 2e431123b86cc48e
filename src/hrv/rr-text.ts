/**
 * RR text formats: the gateway's batch format (`time_ms,rr_ms`), a single column of RR intervals, and
 * the plain-text RR exports of Polar and Kubios. Pure: text in, series out.
 *
 * Accepted layouts (fields separated by commas, semicolons, tabs or spaces; `#` lines and blank lines
 * are ignored; any number of header lines before the first data line):
 * - two columns, beat time and interval (`time_ms,rr_ms`, the gateway's batch format; Kubios' "time, RR"
 *   text export);
 * - one column of intervals (`rr_ms`, a Polar H10 `.txt` export, a Kubios RR `.txt`); beat times are the
 *   cumulative sum, the first beat at the end of the first interval;
 * - more columns with a header naming the interval column (e.g. Polar Sensor Logger's
 *   `Phone timestamp;RR-interval [ms]`): only the named columns are read.
 *
 * Units: a header that names a unit (`_ms`, `[ms]`, `(s)`, `_s`, …) decides; otherwise intervals whose
 * median is below 10 are taken as seconds (no heart has a 10 ms interval, none a 10 s one), and beat
 * times are in whichever unit makes their differences agree with the intervals.
 */
import { HrvInputError } from './errors.js';
import { DECIMAL_COMMA, splitFields } from './text-fields.js';
import { GAP_TOLERANCE_MS, type RrSeries } from './types.js';

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** Interval medians below this are in seconds, above it in ms. */
const SECONDS_BELOW = 10;

type Unit = 'ms' | 's' | undefined;

interface Column {
  index: number;
  unit: Unit;
}

/**
 * Longest interval accepted from a file, ms. Sinus pauses and asystole of tens of seconds are real and are
 * kept for cleaning to judge; a minute without a beat is a recording artefact or a wrong unit, and values
 * like 1e12 would otherwise make every later step (windows, cumulative times) run for hours.
 */
export const MAX_FILE_RR_MS = 60_000;

function unitOf(name: string): Unit {
  const n = name.toLowerCase();
  if (/(^|[_\s([-])ms\b|\bmsec|millisec/.test(n)) return 'ms';
  if (/(^|[_\s([-])(s|sec|secs|seconds?)\b/.test(n)) return 's';
  return undefined;
}

function isRrName(name: string): boolean {
  return /\b(rr|rri|ibi|nn|r-r)\b|rr[_\s-]|^rr|interval/i.test(name);
}

function isTimeName(name: string): boolean {
  return /^(t|time|t_ms|t_s|time_ms|time_s|beat_time)\b|^time\s*[([]/i.test(name.trim());
}

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Columns from a header line; undefined when the header does not name an interval column. */
function columnsFromHeader(fields: string[]): { rr: Column; time: Column | undefined } | undefined {
  let rr: Column | undefined;
  let time: Column | undefined;
  fields.forEach((f, index) => {
    if (time === undefined && isTimeName(f)) time = { index, unit: unitOf(f) };
    else if (rr === undefined && isRrName(f)) rr = { index, unit: unitOf(f) };
  });
  return rr === undefined ? undefined : { rr, time };
}

/** A finite number from a field already checked against NUMBER, or an error naming the line. */
function finiteField(value: string, what: string, sourceName: string, lineNo: number): number {
  const v = Number(value);
  if (!Number.isFinite(v)) throw new HrvInputError(sourceName, lineNo, `${what} ${value} is not a finite number (overflows)`);
  return v;
}

/** True when every value is an integer one more than the previous: a beat index (1, 2, 3, …), not beat times. */
function isIndexColumn(values: readonly number[]): boolean {
  if (values.length < 3) return false;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isInteger(values[i]!) || (i > 0 && values[i]! - values[i - 1]! !== 1)) return false;
  }
  return true;
}

/** True when a line holds control characters (other than tab) or U+FFFD from undecodable bytes: the file is not text. */
function isBinary(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0xfffd) return true;
  }
  return false;
}

/** Why a file without a single interval is refused, naming the line that shows it (a person uploading garbage needs one). */
function noIntervals(lines: readonly string[], sourceName: string): HrvInputError {
  const content = (l: string): boolean => l.trim() !== '' && !l.trim().startsWith('#');
  // A header naming the RR column and nothing after it is an empty recording, not garbage.
  const names = (l: string): boolean => columnsFromHeader(splitFields(l.trim()).fields) !== undefined;
  const first = lines.findIndex((l) => content(l) && !names(l));
  if (first < 0) return new HrvInputError(sourceName, undefined, 'no RR intervals (empty file)');
  const binary = lines.findIndex(isBinary);
  if (binary >= 0) return new HrvInputError(sourceName, binary + 1, 'not a text file (binary data); expected RR intervals (time_ms,rr_ms or one column of RR)');
  return new HrvInputError(sourceName, first + 1, 'no line holds a number: expected RR intervals (time_ms,rr_ms or one column of RR) after at most a few header lines');
}

/** Parses an RR text file (see the module comment for the formats) into a series in ms; `sourceName` names it in errors. */
export function parseRrText(text: string, sourceName: string): RrSeries {
  const lines = text.split(/\r\n|\n|\r/);
  let header: string[] | undefined;
  let headerLine = 0;
  let cols: { rr: Column; time: Column | undefined } | undefined;
  let width = 0;
  let joinDecimalComma = false;
  const rrRaw: number[] = [];
  const tRaw: number[] = [];
  const lineOf: number[] = [];
  for (let li = 0; li < lines.length; li++) {
    const raw = lines[li]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const lineNo = li + 1;
    const split = splitFields(raw);
    let fields = split.fields;
    if (cols === undefined) {
      if (rrRaw.length === 0 && fields.every((f) => !NUMBER.test(f))) {
        // Header (or one of several Kubios/Polar preamble lines): the last one before the data names the columns.
        // "Time (s)  RR (s)" split on spaces: a bare bracketed unit belongs to the name before it.
        header = fields.reduce<string[]>((acc, tok) => {
          if (acc.length > 0 && /^[([].*[)\]]$/.test(tok)) acc[acc.length - 1] += ` ${tok}`;
          else acc.push(tok);
          return acc;
        }, []);
        headerLine = lineNo;
        continue;
      }
      // A header naming one column over comma-split pairs of digits: the comma is a decimal mark (0,812).
      if (header?.length === 1 && split.commaSeparated && fields.length === 2 && DECIMAL_COMMA.test(raw)) joinDecimalComma = true;
      if (joinDecimalComma) fields = [raw.replace(',', '.')];
      cols = header ? columnsFromHeader(header) : undefined;
      if (cols === undefined) {
        if (header && header.length === fields.length && fields.length >= 2) {
          throw new HrvInputError(sourceName, headerLine, `header does not name an RR interval column (${header.join(', ')})`);
        }
        // A header's names give units only when it has one name per column.
        const named = (i: number): Unit => (header?.length === fields.length ? unitOf(header[i]!) : undefined);
        if (fields.length === 1) cols = { rr: { index: 0, unit: named(0) }, time: undefined };
        else if (fields.length === 2) {
          cols = {
            time: { index: 0, unit: named(0) },
            rr: { index: 1, unit: named(1) },
          };
        } else {
          throw new HrvInputError(
            sourceName,
            lineNo,
            `${fields.length} columns but no header naming the RR column; expected time_ms,rr_ms or one column of RR`,
          );
        }
      }
      width = fields.length;
      if (header !== undefined && header.length !== width && split.commaSeparated && width === 2 * header.length) {
        throw new HrvInputError(
          sourceName,
          lineNo,
          `${width} fields under a header of ${header.length} columns: decimal commas in a comma-separated file are ambiguous; write decimal points or separate fields with ';'`,
        );
      }
    } else if (joinDecimalComma) {
      if (!DECIMAL_COMMA.test(raw) && !NUMBER.test(raw)) throw new HrvInputError(sourceName, lineNo, `RR interval "${raw}" is not a number`);
      fields = [raw.replace(',', '.')];
    }
    if (fields.length !== width) {
      throw new HrvInputError(sourceName, lineNo, `expected ${width} field${width === 1 ? '' : 's'}, found ${fields.length}`);
    }
    const rrField = fields[cols.rr.index]!;
    if (!NUMBER.test(rrField)) throw new HrvInputError(sourceName, lineNo, `RR interval "${rrField}" is not a number`);
    const rr = finiteField(rrField, 'RR interval', sourceName, lineNo);
    if (!(rr > 0)) throw new HrvInputError(sourceName, lineNo, `RR interval must be > 0, got ${rrField}`);
    rrRaw.push(rr);
    if (cols.time !== undefined) {
      const tField = fields[cols.time.index]!;
      if (!NUMBER.test(tField)) throw new HrvInputError(sourceName, lineNo, `beat time "${tField}" is not a number`);
      const t = finiteField(tField, 'beat time', sourceName, lineNo);
      const prev = tRaw[tRaw.length - 1];
      if (prev !== undefined && !(t > prev)) {
        // Headerless "0,812" lines are seconds with a decimal comma read as two fields: the integer parts
        // repeat as "times". Say so rather than only that time goes backwards.
        const hint =
          split.commaSeparated && header === undefined && width === 2 && /^\d{1,2}$/.test(tField)
            ? `; if the file uses decimal commas (${raw}), write decimal points or separate fields with ';'`
            : '';
        throw new HrvInputError(sourceName, lineNo, `beat time ${tField} goes backwards (previous beat at ${prev})${hint}`);
      }
      tRaw.push(t);
    }
    lineOf.push(lineNo);
  }
  if (rrRaw.length === 0) throw noIntervals(lines, sourceName);

  const rrUnit = cols!.rr.unit ?? (medianOf(rrRaw) < SECONDS_BELOW ? 's' : 'ms');
  const rrScale = rrUnit === 's' ? 1000 : 1;
  const n = rrRaw.length;
  const rrMs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    rrMs[i] = rrRaw[i]! * rrScale;
    if (rrMs[i]! > MAX_FILE_RR_MS) {
      throw new HrvInputError(sourceName, lineOf[i], `RR interval of ${rrMs[i]} ms is longer than ${MAX_FILE_RR_MS / 1000} s: not a heartbeat interval (wrong unit or corrupt value)`);
    }
  }
  // A headerless first column counting 1, 2, 3, … is a beat index (an exported row number), not times.
  const timeIsIndex = cols!.time !== undefined && header === undefined && isIndexColumn(tRaw);
  if (cols!.time === undefined || timeIsIndex) {
    const tMs = new Float64Array(n);
    let acc = 0;
    for (let i = 0; i < n; i++) tMs[i] = acc += rrMs[i]!;
    return { tMs, rrMs };
  }
  let tScale: number;
  if (cols!.time.unit !== undefined) tScale = cols!.time.unit === 's' ? 1000 : 1;
  else if (n < 2) tScale = rrScale;
  else {
    // Beat-time differences are at least the intervals (more across a gap): pick the unit that makes them agree.
    const diffs: number[] = [];
    for (let i = 1; i < n; i++) diffs.push(tRaw[i]! - tRaw[i - 1]!);
    const ratio = medianOf(diffs) / medianOf(Array.from(rrMs));
    tScale = Math.abs(Math.log(ratio * 1000)) < Math.abs(Math.log(ratio)) ? 1000 : 1;
  }
  const tMs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    tMs[i] = tRaw[i]! * tScale;
    if (!Number.isFinite(tMs[i]!)) throw new HrvInputError(sourceName, lineOf[i], `beat time ${tRaw[i]} s is not a finite number of ms (overflows)`);
    if (i > 0 && tMs[i]! - rrMs[i]! < tMs[i - 1]! - GAP_TOLERANCE_MS) {
      throw new HrvInputError(
        sourceName,
        lineOf[i],
        `interval of ${rrMs[i]} ms ending at ${tMs[i]} ms starts before the previous beat at ${tMs[i - 1]} ms`,
      );
    }
  }
  return { tMs, rrMs };
}

/** Shortest decimal form of a value in ms (at most 3 decimals, i.e. µs). */
function fmtMs(v: number): string {
  return String(Math.round(v * 1000) / 1000);
}

/** Writes a series in the gateway's batch format: header `time_ms,rr_ms`, one beat per line, ms. */
export function formatRrCsv(series: RrSeries): string {
  const parts: string[] = ['time_ms,rr_ms\n'];
  for (let i = 0; i < series.rrMs.length; i++) parts.push(`${fmtMs(series.tMs[i]!)},${fmtMs(series.rrMs[i]!)}\n`);
  return parts.join('');
}
