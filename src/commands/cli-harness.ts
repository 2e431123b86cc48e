/**
 * Test harness: runs `hrvault hrv` / `hrvault detect` in-process with the CLI's error edge (domain errors
 * → one line on stderr, exit code 2), capturing stdout and stderr. Used by the command tests; the real
 * binary is also spawned there to prove the same behaviour end to end.
 */
import { Command, CommanderError } from 'commander';
import { isDomainError } from '../errors.js';
import { registerDetectCommand } from './detect.js';
import { registerHrvCommand } from './hrv.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs argv (without `node hrvault`) and returns the exit code and captured output. */
export async function runInProcess(argv: string[]): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const io = { out: (s: string) => void (stdout += s), err: (s: string) => void (stderr += s) };
  const program = new Command('hrvault').exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  registerHrvCommand(program, io);
  registerDetectCommand(program, io);
  for (const c of program.commands) c.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  let code = 0;
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) code = err.exitCode === 0 ? 0 : 2;
    else if (isDomainError(err)) {
      io.err(`hrvault: ${err.message}\n`);
      code = 2;
    } else throw err;
  }
  return { code, stdout, stderr };
}
