/** CPU time and resident memory of a process, from /proc (Linux); this process's own from Node's counters. */
import { readFileSync } from 'node:fs';
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
