import { describe, expect, it } from 'vitest';
import { assertJsonDepth, JsonDepthError } from './json-depth.js';

describe('assertJsonDepth', () => {
  it('accepts bodies up to the limit and refuses one level more', () => {
    expect(() => assertJsonDepth('['.repeat(8) + ']'.repeat(8), 8)).not.toThrow();
    expect(() => assertJsonDepth('{"a":'.repeat(9) + '1' + '}'.repeat(9), 8)).toThrow(JsonDepthError);
  });

  it('does not count brackets inside strings, including after escaped quotes', () => {
    expect(() => assertJsonDepth(JSON.stringify({ s: '[[[[[[[[[[\\"{{{{{{{{' }), 2)).not.toThrow();
  });

  it('counts depth, not the number of brackets: many siblings are fine', () => {
    expect(() => assertJsonDepth(JSON.stringify(Array.from({ length: 1000 }, () => [[1]])), 3)).not.toThrow();
  });
});
