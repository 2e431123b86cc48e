/** The error every contract check raises: which contract, which field, what is wrong. */
import type { z } from 'zod';
import { HrvaultError } from '../errors.js';

/** Data that crossed a boundary does not have the declared shape. */
export class ContractError extends HrvaultError {
  /** The contract's name, e.g. `hrv-result`. */
  readonly contract: string;
  /** Dotted path of the first bad field ('' for the root). */
  readonly field: string;
  constructor(contract: string, field: string, problem: string, options?: { cause?: unknown }) {
    super('HRV_ERR_CONTRACT', `${contract}: ${field || '(root)'}: ${problem}`, options);
    this.name = 'ContractError';
    this.contract = contract;
    this.field = field;
  }
}

/** Validates `value` against `schema` or throws a ContractError naming the first bad field. */
export function parseContract<S extends z.ZodType>(contract: string, schema: S, value: unknown): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw new ContractError(contract, issue.path.map(String).join('.'), issue.message, { cause: r.error });
}
