/**
 * Entry point of the benchmark's load-generator child process: the harness forks it (pinned to the client cores),
 * sends `{op: 'start', config}`, hears one `progress` per batch interval and `final` at the end.
 */
import { runGenerator } from './generator.js';
import { send, sendFlushed } from './ipc.js';
import { generatorConfigSchema } from './protocol.js';


if (!process.send) {
  process.stderr.write('bench load generator: must be started by the harness over an IPC channel (hrvault bench)\n');
  process.exit(2);
}
process.once('message', (m) => {
  const msg = m as { op: 'start'; config: unknown };
  runGenerator(generatorConfigSchema.parse(msg.config), (p) => send({ type: 'progress', ...p }))
    .then((final) => sendFlushed(final))
    .catch((err: unknown) => {
      process.exitCode = 1;
      return sendFlushed({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    })
    .finally(() => process.disconnect?.());
});
process.on('disconnect', () => process.exit(process.exitCode ?? 0));
