/** Test helper: the HrvInputError `f` throws (anything else is rethrown, and no error at all fails the test). */
import { HrvInputError } from './errors.js';

export function inputError(f: () => unknown): HrvInputError {
  try {
    f();
  } catch (err) {
    if (err instanceof HrvInputError) return err;
    throw err;
  }
  throw new Error('expected an HrvInputError');
}
