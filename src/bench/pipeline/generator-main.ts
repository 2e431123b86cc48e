/**
 * Entry point of the benchmark's load-generator child process: the harness forks it (pinned to the client cores),
 * sends `{op: 'start', config}`, hears one `progress` per batch interval and `final` at the end.
 */
import { runGenerator } from './generator.js';
import { generatorConfigSchema } from './protocol.js';

const send = (m: unknown): void => void process.send?.(m);

if (!process.send) {
  process.stderr.write('bench load generator: must be started by the harness over an IPC channel (hrvault bench)\n');
  process.exit(2);
}
process.once('message', (m) => {
  const msg = m as { op: 'start'; config: unknown };
  runGenerator(generatorConfigSchema.parse(msg.config), (p) => send({ type: 'progress', ...p }))
    .then((final) => send(final))
    .catch((err: unknown) => {
      send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
      process.exitCode = 1;
    })
    .finally(() => process.disconnect?.());
});
process.on('disconnect', () => process.exit(process.exitCode ?? 0));
