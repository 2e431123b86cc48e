/**
 * Field splitting shared by the RR and signal text parsers, with decimal-comma detection. Pure.
 */
/** A decimal number written with a comma as its decimal mark (European locales). */
export const DECIMAL_COMMA = /^[+-]?\d+,\d+(?:[eE][+-]?\d+)?$/;

export interface SplitLine {
  fields: string[];
  /** The line was split on commas (so a decimal comma would have been taken for a separator). */
  commaSeparated: boolean;
}

/**
 * Fields of a line. Semicolons and tabs take precedence as separators, so commas inside their fields are
 * decimal marks (`0,812;0,798`); whitespace-separated fields whose commas all sit between digits are
 * decimal too (`0,800  0,810`); otherwise commas separate fields. Decimal commas become points.
 */
export function splitFields(line: string): SplitLine {
  const t = line.trim();
  let fields: string[];
  let commaSeparated = false;
  if (/[;\t]/.test(t)) fields = t.split(/\s*[;\t]\s*/);
  else if (t.includes(',') && /\s/.test(t) && t.split(/\s+/).every((f) => !f.includes(',') || DECIMAL_COMMA.test(f))) {
    fields = t.split(/\s+/);
  } else if (t.includes(',')) {
    fields = t.split(/\s*,\s*/);
    commaSeparated = true;
  } else fields = t.split(/\s+/);
  return { fields: fields.map((f) => (DECIMAL_COMMA.test(f) ? f.replace(',', '.') : f)), commaSeparated };
}
