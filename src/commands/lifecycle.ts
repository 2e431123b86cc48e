/**
 * The process edge of the long-running commands (demo, serve, csp, sp, cloud): how they stop on SIGINT /
 * SIGTERM, and how a port that is already taken becomes a one-line usage error instead of a stack trace.
 */
import { createServer } from 'node:net';
import { ConfigError } from '../errors.js';

export interface StopSignal {
  /** Resolves with the first SIGINT or SIGTERM. */
  stopped: Promise<NodeJS.Signals>;
  /** Removes the handlers; call once the command has finished stopping. */
  dispose(): void;
}

/**
 * Listens for SIGINT and SIGTERM from now until `dispose()`. The first one resolves `stopped`. A second one
 * (an impatient Ctrl-C while the command drains and prints its summary) is acknowledged on stderr and does
 * not kill the process: without a handler Node would end it at once with 130 and no summary. A third one
 * ends the process at once (exit 130), so a stop that hangs can still be cut short from the keyboard.
 */
export function stopOnSignal(
  write: (text: string) => void = (t) => void process.stderr.write(t),
  // Where the signals come from: the process, or a stand-in in the unit test (emitting a real SIGTERM in
  // a test worker would also reach the runner's own handlers).
  signals: Pick<NodeJS.EventEmitter, 'on' | 'off'> = process,
): StopSignal {
  let count = 0;
  let resolve!: (s: NodeJS.Signals) => void;
  const stopped = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const on = (s: NodeJS.Signals): void => {
    count++;
    if (count === 1) {
      // Said at once: a drain can take a few seconds and the user should know the signal arrived.
      write(`hrvault: ${s}: stopping\n`);
      resolve(s);
    } else if (count === 2) write(`hrvault: ${s}: stopping, please wait (once more to quit at once)\n`);
    else process.exit(130);
  };
  signals.on('SIGINT', on);
  signals.on('SIGTERM', on);
  return {
    stopped,
    dispose: () => {
      signals.off('SIGINT', on);
      signals.off('SIGTERM', on);
    },
  };
}

/** True when `err` or any error in its `cause` chain is an EADDRINUSE. */
export function isAddressInUse(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++)
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') return true;
  return false;
}

/** The one-line message for a port that is taken. */
export function portInUseError(flag: string, port: number, host: string, cause?: unknown): ConfigError {
  return new ConfigError(
    `${flag} ${port}: ${host}:${port} is already in use; stop what listens there or choose another port (0 = any free port)`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Fails with a one-line ConfigError when host:port cannot be bound, before the command starts anything
 * (so it fails fast, without generating keys or spawning the enclave first). Port 0 is always free.
 * Another process can still take the port between this check and the real listen: callers also map
 * EADDRINUSE from the listen itself with `isAddressInUse`.
 */
export async function ensurePortFree(flag: string, port: number, host: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err) => {
      if (isAddressInUse(err)) reject(portInUseError(flag, port, host, err));
      // Other bind errors (EACCES for a privileged port, EADDRNOTAVAIL) are for the real listen to report.
      else resolve();
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}
