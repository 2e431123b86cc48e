/**
 * A bound on how deeply a JSON request body may nest. JSON.parse itself copes, but recursive consumers
 * after it (schema validation, serialisers) overflow the stack on tens of thousands of levels and answered
 * 500; the body is refused as a client error before it is parsed.
 */
import { HrvaultError } from '../errors.js';

/** Deepest nesting of arrays and objects a request body may have (the API's own bodies need under 10). */
export const MAX_JSON_DEPTH = 64;

/** The request body nests deeper than MAX_JSON_DEPTH. */
export class JsonDepthError extends HrvaultError {
  constructor(limit: number) {
    super('HRV_ERR_JSON_DEPTH', `request body nests deeper than ${limit} levels`);
    this.name = 'JsonDepthError';
  }
}

/** Throws JsonDepthError when `text` opens more than `limit` arrays/objects at once; one pass, strings skipped. */
export function assertJsonDepth(text: string, limit = MAX_JSON_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) throw new JsonDepthError(limit);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}
