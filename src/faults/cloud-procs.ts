/**
 * The cloud's processes as the cloud-side scenarios see them: the `hrvault cloud` host and its enclave child
 * (found in /proc), the whole process group killed as a machine crash would, and what the host's log says about
 * its micro-batches and its enclave supervisor (pino JSON lines on stderr).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CliProcess } from '../test-support/processes.js';
import type { FaultStack } from './stack.js';

/** With HRVAULT_FAULTS_KEEP=1: writes every process's stderr to `<dir>/logs/<n>-<name>.log`, then closes the stack (kept or removed). */
export async function closeKeepingLogs(stack: FaultStack | undefined): Promise<void> {
  const keep = process.env.HRVAULT_FAULTS_KEEP === '1';
  if (keep && stack) {
    mkdirSync(join(stack.dir, 'logs'), { recursive: true });
    for (const [i, r] of stack.runs.entries()) writeFileSync(join(stack.dir, 'logs', `${i}-${r.name}.log`), r.proc.stderr());
  }
  await stack?.close(keep);
}

/** One JSON log line of the host (pino); lines that are not JSON (the enclave child's own output) are skipped. */
function logLines(cloud: CliProcess): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of cloud.stderr().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // A line cut by a SIGKILL in the middle of its write.
    }
  }
  return out;
}

/** What the host's enclave supervisor logged: processes lost (with why), restarts done, watchdog kills, the last restart count; and the host's failed micro-batches. */
export interface SupervisorLog {
  lost: string[];
  restarted: number;
  hung: number;
  /** The `restarts` counter of the last "enclave process lost; restarting it" line (0 if none). */
  restarts: number;
  /** Micro-batches the host logged as partly failed (the enclave lost in the middle of a call): their files were retried. */
  failedBatches: number;
}

/** Reads the supervisor's lines from the host's log. */
export function supervisorLog(cloud: CliProcess): SupervisorLog {
  const s: SupervisorLog = { lost: [], restarted: 0, hung: 0, restarts: 0, failedBatches: 0 };
  for (const l of logLines(cloud)) {
    if (l.component === 'cloud' && l.level === 50 && String(l.msg).startsWith('enclave could not process')) s.failedBatches++;
    if (l.component !== 'enclave-supervisor') continue;
    if (l.msg === 'enclave process lost; restarting it') {
      s.lost.push(String(l.error));
      s.restarts = Number(l.restarts);
    } else if (l.msg === 'enclave restarted') s.restarted++;
    else if (l.msg === 'enclave hung: watchdog kills it') s.hung++;
  }
  return s;
}

/** Micro-batches of this host process in which the enclave accepted files (each committed at least one sealed journal record). */
export function sealingBatches(cloud: CliProcess): number {
  return logLines(cloud).filter((l) => l.msg === 'micro-batch' && Number(l.accepted) > 0).length;
}

/** The host's `enclave_restarts` from the stats it prints on stdout when it stops (undefined before that). */
export function reportedRestarts(cloud: CliProcess): number | undefined {
  const line = cloud.stdout().trim().split('\n').at(-1);
  if (!line?.startsWith('{')) return undefined;
  return (JSON.parse(line) as { enclave_restarts?: number }).enclave_restarts;
}

/** The pid of the host's enclave child (the child process running enclave/main), or undefined while there is none. */
export function enclavePid(cloud: CliProcess): number | undefined {
  const host = cloud.child.pid;
  if (host === undefined) return undefined;
  let children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${host}/task`)) {
      children.push(...readFileSync(`/proc/${host}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    }
  } catch {
    return undefined;
  }
  children = children.filter((pid) => {
    try {
      return /enclave[/\\]main\.[jt]s/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    } catch {
      return false;
    }
  });
  return children[0];
}

const groupAlive = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * SIGKILLs the cloud's whole process group (host and enclave together, as a machine crash) and waits until no member
 * is left — also when the host already died alone (at a failpoint), whose enclave child would otherwise outlive it
 * and share the sealed state with the next incarnation's enclave.
 */
export async function crashCloud(cloud: CliProcess): Promise<void> {
  const pgid = cloud.child.pid;
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // The group is already empty.
  }
  await cloud.exited;
  // SIGKILL cannot be refused; this waits only for the kernel to reap the members (bounded).
  for (let i = 0; i < 200 && groupAlive(pgid); i++) await new Promise((r) => setTimeout(r, 50));
  if (groupAlive(pgid)) throw new Error(`cloud process group ${pgid} still alive 10 s after SIGKILL`);
}
