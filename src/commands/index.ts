import type { Command } from 'commander';
import { registerAccessCommands } from './access.js';

/** Adds every sub-command to the program; each component's command module registers itself here. */
export function registerCommands(program: Command): void {
  registerAccessCommands(program);
}
