/**
 * Forks the benchmark's child processes (server, load generator) and pins each to its cores with `taskset`, so
 * that the server's figures are for the cores it was given and the generator does not steal them.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const TS = fileURLToPath(import.meta.url).endsWith('.ts');

/** Whether `taskset` is on PATH (util-linux); without it children run unpinned and the report says so. */
export function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A child process and its messages, awaited by type. */
export interface BenchChild {
  readonly child: ChildProcess;
  readonly pinned: boolean;
  send(msg: unknown): void;
  /** The next message of `type` (an `error` message or an exit rejects); `timeoutMs` bounds the wait. */
  next<T>(type: string, timeoutMs: number): Promise<T>;
  /** Called for every message of `type` (progress lines). */
  on(type: string, fn: (msg: Record<string, unknown>) => void): void;
  /** SIGKILLs the process and resolves once it has exited (at once when it already had). */
  kill(): Promise<void>;
  /** Waits up to `timeoutMs` for the process to exit by itself (so a `--cpu-prof` profile gets written), then kills it. */
  exit(timeoutMs: number): Promise<void>;
}

/**
 * Forks `entry` (server-main, generator-main or worker-main) and pins it and its future children to `cpus` (e.g. "0", "0-1");
 * `nodeArgs` are extra Node flags (`--cpu-prof …`).
 */
export function forkChild(entry: 'server-main' | 'generator-main' | 'worker-main', cpus: string | undefined, nodeArgs: readonly string[] = []): BenchChild {
  const file = join(HERE, `${entry}.${TS ? 'ts' : 'js'}`);
  if (!existsSync(file)) throw new Error(`bench child ${file} is missing`);
  const child = fork(file, [], { execArgv: [...(TS ? ['--import', 'tsx'] : []), ...nodeArgs], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  let pinned = false;
  if (cpus !== undefined && child.pid !== undefined && hasTaskset()) {
    // Before it starts anything: the enclave child the server forks later inherits the affinity. -a: every thread.
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(child.pid)], { stdio: 'ignore' });
    pinned = true;
  }
  const handlers = new Map<string, ((m: Record<string, unknown>) => void)[]>();
  const waiters: { type: string; resolve: (m: unknown) => void; reject: (e: Error) => void }[] = [];
  const failAll = (err: Error): void => {
    for (const w of waiters.splice(0)) w.reject(err);
  };
  child.on('message', (raw) => {
    const m = raw as Record<string, unknown>;
    const type = String(m.type);
    if (type === 'error') return failAll(new Error(`${entry}: ${String(m.message)}`));
    for (const fn of handlers.get(type) ?? []) fn(m);
    const i = waiters.findIndex((w) => w.type === type);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m);
  });
  child.on('exit', (code, signal) => failAll(new Error(`${entry} exited (${signal ?? `code ${code}`}) before answering`)));
  return {
    child,
    pinned,
    send: (msg) => void child.send(msg as object),
    next<T>(type: string, timeoutMs: number): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${entry}: no '${type}' within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          type,
          resolve: (m) => {
            clearTimeout(t);
            resolve(m as T);
          },
          reject: (e) => {
            clearTimeout(t);
            reject(e);
          },
        });
      });
    },
    on(type, fn) {
      handlers.set(type, [...(handlers.get(type) ?? []), fn]);
    },
    kill: () =>
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
    exit: (timeoutMs) =>
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const t = setTimeout(() => {
              child.kill('SIGKILL');
              resolve();
            }, timeoutMs);
            child.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
          }),
  };
}
