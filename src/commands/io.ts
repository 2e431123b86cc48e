/**
 * Output sinks for the commands, so tests can run them in-process and capture what a user would see,
 * and option parsers shared by `hrvault hrv` and `hrvault detect`.
 */
import { HrvaultError } from '../errors.js';

/** Where a command writes its result (out) and its diagnostics (err). */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
}

let pipeGuard = false;

/** The process's stdout and stderr; a closed stdout (`| head`) ends the process quietly instead of crashing it. */
export const processIo: CommandIo = {
  out: (text) => {
    if (!pipeGuard) {
      pipeGuard = true;
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(0);
        throw err;
      });
    }
    process.stdout.write(text);
  },
  err: (text) => void process.stderr.write(text),
};

/** A bad option value: one `hrvault: --option: problem` line, exit 2 (a domain error, not commander's own format). */
export function usageError(option: string, problem: string): HrvaultError {
  return new HrvaultError('HRV_ERR_USAGE', `${option}: ${problem}`);
}

/**
 * Commander parser for a finite number ≥ `min` (> `min` when `strict`), or exactly 0 when `zeroOk`; throws a
 * usage error naming `option`. Values like 1e-9 s windows or 1e400 are refused here, before any work.
 */
export function boundedNumber(option: string, opts: { min: number; strict?: boolean; max?: number; zeroOk?: boolean; unit?: string }): (value: string) => number {
  const { min, strict = false, max = Number.MAX_VALUE, zeroOk = false, unit = '' } = opts;
  const want = `${zeroOk ? '0 or ' : ''}a number ${strict ? '>' : '≥'} ${min}${unit}${max < Number.MAX_VALUE ? ` and ≤ ${max}${unit}` : ''}`;
  return (value: string) => {
    const v = Number(value);
    if (value.trim() === '' || !Number.isFinite(v)) throw usageError(option, `expected ${want}, got "${value}"`);
    if (zeroOk && v === 0) return 0;
    if (v < min || (strict && v === min) || v > max) throw usageError(option, `expected ${want}, got "${value}"`);
    return v;
  };
}

/** Commander parser for one of `choices`; throws a usage error naming `option`. */
export function choice<T extends string>(option: string, choices: readonly T[]): (value: string) => T {
  return (value: string) => {
    if (!(choices as readonly string[]).includes(value)) throw usageError(option, `expected one of ${choices.join(', ')}, got "${value}"`);
    return value as T;
  };
}
