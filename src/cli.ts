/**
 * The `hrvault` command. Each sub-command lives in src/commands/ and registers itself here; domain errors
 * become one-line messages with exit code 2 at this edge only.
 */
import { Command, CommanderError } from 'commander';
import { isDomainError } from './errors.js';
import { registerCommands } from './commands/index.js';

const program = new Command('hrvault')
  .description('Secure remote cardiac monitoring: HRV analysis, encrypted pipeline, access control')
  .version('0.1.0')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

registerCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (isDomainError(err)) {
    process.stderr.write(`hrvault: ${err.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`hrvault: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  }
}
