/**
 * Process and service helpers for the integration tests (`*.int.test.ts`): run the real CLI as a child
 * process, wait for what it prints (never for a fixed time), and probe loopback services so a test can
 * skip with a printed reason when one is absent.
 *
 * Everything here waits on a signal with a deadline: a readiness line, an exit, an open port, an HTTP 200.
 * On a loaded machine a fixed sleep is either too short (flaky) or too long (slow); a deadline only bounds
 * how long a broken run takes to fail, and its message carries the child's output.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { connect, createServer, type AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** The repository root (where package.json is). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `node --import tsx src/cli.ts`: the CLI from source, as `npm run hrvault` would run the build. */
export const CLI_ARGS = ['--import', 'tsx', 'src/cli.ts'];

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CliProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code and signal once the process has exited and its output is read. */
  exited: Promise<Exit>;
  /**
   * Resolves with the first match of `re` in the stream's output so far (default stderr); rejects when the
   * process exits first or `timeoutMs` passes, with the output's tail in the message.
   */
  waitFor(re: RegExp, opts?: { stream?: 'stdout' | 'stderr'; timeoutMs?: number }): Promise<RegExpExecArray>;
  /** Sends a signal to the process group, as a terminal's Ctrl-C does (the child runs in its own group). */
  signalGroup(signal: NodeJS.Signals): void;
  /** Sends a signal to the CLI process alone, as `kill PID` does. */
  signal(signal: NodeJS.Signals): void;
}

export interface SpawnCliOptions {
  env?: Record<string, string>;
  cwd?: string;
}

const tail = (s: string): string => (s.length > 3000 ? `…${s.slice(-3000)}` : s);

/**
 * Starts `hrvault ARGS…` from source in its own process group (so `signalGroup` reaches the CLI and its
 * children the way a terminal's Ctrl-C does, and nothing else).
 */
export function spawnCli(args: string[], opts: SpawnCliOptions = {}): CliProcess {
  const child = spawn(process.execPath, [...CLI_ARGS, ...args], {
    cwd: opts.cwd ?? ROOT,
    // 1024-bit Paillier keys unless the test says otherwise: generating the default 2048-bit ones takes
    // tens of seconds of CPU on a loaded machine, and no CLI test is about the modulus size.
    env: { HRVAULT_ACCESS_PAILLIER_BITS: '1024', HRVAULT_CSP_PAILLIER_BITS: '1024', ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const l of [...listeners]) l();
  };
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    notify();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    notify();
  });
  // 'close' (not 'exit') so that everything the process wrote has been read.
  const exited = new Promise<Exit>((resolve) => {
    child.once('close', (code, signal) => {
      resolve({ code, signal });
      notify();
    });
  });
  let done = false;
  void exited.then(() => (done = true));

  const waitFor: CliProcess['waitFor'] = (re, o = {}) => {
    const stream = o.stream ?? 'stderr';
    const timeoutMs = o.timeoutMs ?? 120_000;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const m = re.exec(stream === 'stderr' ? err : out);
        if (m) finish(() => resolve(m));
        else if (done || child.exitCode !== null || child.signalCode !== null)
          finish(() =>
            reject(
              new Error(
                `hrvault ${args.join(' ')} exited (${child.exitCode ?? child.signalCode}) before printing ${re}\n` +
                  `stderr: ${tail(err)}\nstdout: ${tail(out)}`,
              ),
            ),
          );
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new Error(
                `hrvault ${args.join(' ')} did not print ${re} within ${timeoutMs} ms\n` +
                  `stderr: ${tail(err)}\nstdout: ${tail(out)}`,
              ),
            ),
          ),
        timeoutMs,
      );
      const finish = (f: () => void): void => {
        clearTimeout(timer);
        listeners.delete(check);
        f();
      };
      listeners.add(check);
      check();
    });
  };

  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor,
    signal: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    signalGroup: (signal) => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, signal);
        } catch {
          // The group is already gone.
        }
      }
    },
  };
}

/**
 * Resolves with the exit once the process ends; after `timeoutMs` kills its group (SIGKILL) and rejects
 * with its output, so a hung process fails the test with a reason instead of hanging the run.
 */
export async function exitWithin(p: CliProcess, timeoutMs: number): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      p.signalGroup('SIGKILL');
      reject(
        new Error(
          `process did not exit within ${timeoutMs} ms\nstderr: ${tail(p.stderr())}\nstdout: ${tail(p.stdout())}`,
        ),
      );
    }, timeoutMs);
  });
  try {
    return await Promise.race([p.exited, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export interface CliResult extends Exit {
  stdout: string;
  stderr: string;
}

/**
 * Runs `hrvault ARGS…` to its end (asynchronously: the test worker's event loop keeps running, unlike
 * spawnSync) and returns its exit and output; rejects after `timeoutMs`.
 */
export async function runCli(
  args: string[],
  opts: SpawnCliOptions & { timeoutMs?: number } = {},
): Promise<CliResult> {
  const p = spawnCli(args, opts);
  const exit = await exitWithin(p, opts.timeoutMs ?? 120_000);
  return { ...exit, stdout: p.stdout(), stderr: p.stderr() };
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/**
 * True when a service answers on 127.0.0.1:port; otherwise prints why the caller's tests are skipped
 * (`name` says which service, `hint` how to get it).
 */
export async function serviceOrSkip(name: string, port: number, hint: string): Promise<boolean> {
  if (await portOpen(port)) return true;
  console.log(`skipped: no ${name} on 127.0.0.1:${port} (${hint})`);
  return false;
}

/** Polls `url` until it answers 200, or rejects after `timeoutMs` with the last status or error. */
export async function waitForHttp200(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (${last})`);
    // Polling interval, not a wait for the service: the deadline above bounds the loop.
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a server a test starts itself). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
