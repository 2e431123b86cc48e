import type { Command } from 'commander';
import { registerAccessCommands } from './access.js';
import { registerDetectCommand } from './detect.js';
import { registerHrvCommand } from './hrv.js';
import { registerSensorCommand } from './sensor.js';
import { registerGatewayCommand } from './gateway.js';
import { registerDemoCommand } from './demo.js';
import { registerCloudCommands } from './cloud.js';
import { registerBenchCommand } from './bench.js';
import { registerWorkerCommand } from './worker.js';

export { runDemo, formatSummary, type DemoOptions, type DemoContext, type DemoSummary } from './demo.js';
// The benchmark's JetStream workers (src/bench/pipeline/worker-main.ts) run what `hrvault worker` runs.
export { clusterEnclave, resultsOptionsOf, workerOptionsOf, workOptionsOf, type ClusterEnclave } from './worker-enclave.js';

/** Adds every sub-command to the program; each component's command module registers itself here. */
export function registerCommands(program: Command): void {
  registerHrvCommand(program);
  registerDetectCommand(program);
  registerAccessCommands(program);
  registerSensorCommand(program);
  registerGatewayCommand(program);
  registerDemoCommand(program);
  registerCloudCommands(program);
  registerBenchCommand(program);
  registerWorkerCommand(program);
}
