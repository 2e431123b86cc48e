/**
 * Output sinks for the commands, so tests can run them in-process and capture what a user would see,
 * and option parsers shared by `hrvault hrv` and `hrvault detect`.
 */
import { InvalidArgumentError } from 'commander';

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

/** Commander parser for a finite number ≥ 0 (or > 0 when `strict`). */
export function nonNegativeNumber(strict: boolean): (value: string) => number {
  return (value: string) => {
    const v = Number(value);
    if (value.trim() === '' || !Number.isFinite(v) || v < 0 || (strict && v === 0)) {
      throw new InvalidArgumentError(`expected a number ${strict ? '> 0' : '≥ 0'}, got "${value}"`);
    }
    return v;
  };
}
