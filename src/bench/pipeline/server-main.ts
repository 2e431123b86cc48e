/**
 * Entry point of the benchmark's server child process: the harness forks it (pinned to the server's cores), sends
 * `{op: 'start', config}`, hears `ready`, one `batch` per micro-batch, and `final` after `{op: 'stop'}`.
 */
import { send, sendFlushed } from './ipc.js';
import { serverConfigSchema } from './protocol.js';
import { startBenchServer, type BenchServer } from './server.js';

type Msg = { op: 'start'; config: unknown } | { op: 'stop' };

let server: BenchServer | undefined;

async function handle(msg: Msg): Promise<void> {
  if (msg.op === 'start') {
    server = await startBenchServer(serverConfigSchema.parse(msg.config), (sample) => send({ type: 'batch', sample }));
    send(server.ready);
  } else {
    const final = await server?.stop();
    await sendFlushed(final ?? { type: 'error', message: 'stop before start' });
    process.disconnect?.();
  }
}

if (!process.send) {
  process.stderr.write('bench server: must be started by the harness over an IPC channel (hrvault bench)\n');
  process.exit(2);
}
process.on('message', (m) => {
  handle(m as Msg).catch(async (err: unknown) => {
    process.exitCode = 1;
    await sendFlushed({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    process.disconnect?.();
  });
});
process.on('disconnect', () => {
  // The harness went away: leave no enclave behind.
  void server?.stop().finally(() => process.exit(process.exitCode ?? 0));
});
