/** CPU time and resident memory of a process, from /proc (Linux); this process's own from Node's counters. */
import { readdirSync, readFileSync } from 'node:fs';
import type { ProcUsage } from './protocol.js';

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks on every mainstream architecture. */
const TICKS_PER_S = 100;

/** CPU time (ms) and RSS (MB: now, peak) of process `pid`; undefined when it is gone or /proc is missing. */
export function procUsage(pid: number): ProcUsage | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuMs = ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_S;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { cpu_ms: cpuMs, rss_mb: kb('VmRSS') / 1024, rss_max_mb: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** This process's CPU time (ms, user + system) and RSS (MB: now, peak). */
export function selfUsage(): ProcUsage {
  const c = process.cpuUsage();
  return { cpu_ms: (c.user + c.system) / 1000, rss_mb: process.memoryUsage.rss() / 2 ** 20, rss_max_mb: process.resourceUsage().maxRSS / 1024 };
}

/**
 * Follows a process whose pid may change (the enclave is restarted by its supervisor): sums the CPU time of every
 * pid seen and keeps the largest peak RSS. Call `sample()` now and then, and once at the end.
 */
export class UsageTracker {
  readonly #done = new Map<number, ProcUsage>();
  sample(pid: number | undefined): void {
    if (pid === undefined) return;
    const u = procUsage(pid);
    if (u) this.#done.set(pid, u);
  }
  total(): ProcUsage | undefined {
    if (this.#done.size === 0) return undefined;
    const all = [...this.#done.values()];
    return { cpu_ms: all.reduce((s, u) => s + u.cpu_ms, 0), rss_mb: all.at(-1)!.rss_mb, rss_max_mb: Math.max(...all.map((u) => u.rss_max_mb)) };
  }
}

/**
 * The pid of the local `nats-server` listening on `port` (its command line names the port, or names none and the port
 * is the default 4222); undefined when there is none, or more than one candidate, or no /proc. A system process the
 * benchmark cannot pin: only its CPU time is read.
 */
export function natsServerPid(port: number): number | undefined {
  const found: number[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    if (!args[0]?.endsWith('nats-server')) continue;
    if (portOf(args) === port) found.push(Number(pid));
  }
  return found.length === 1 ? found[0] : undefined;
}

/** The client port of a nats-server command line: `-p N`, `--port=N`, `port`/`listen` in its `-c` file, else 4222. */
function portOf(args: readonly string[]): number | undefined {
  const flag = (names: string[]): string | undefined => {
    const i = args.findIndex((a) => names.includes(a));
    if (i >= 0) return args[i + 1];
    const eq = args.find((a) => names.some((n) => a.startsWith(`${n}=`)));
    return eq?.slice(eq.indexOf('=') + 1);
  };
  const p = flag(['-p', '--port']);
  if (p !== undefined) return Number(p);
  const conf = flag(['-c', '--config']);
  if (conf === undefined) return 4222;
  try {
    const text = readFileSync(conf, 'utf8');
    const m = /^\s*port\s*[:=]\s*(\d+)/m.exec(text) ?? /^\s*listen\s*[:=]\s*"?[^\s"]*:(\d+)/m.exec(text);
    return m ? Number(m[1]) : 4222;
  } catch {
    return undefined;
  }
}
