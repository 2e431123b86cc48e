/**
 * What the JetStream fault scenario reads and does beside the stack: the workers' log lines about their partitions
 * (pino JSON on stderr: `partition taken` with its fencing token, `partition lost` / `partition failed` with the
 * error), pausing a worker's whole process group (host and enclave, as a frozen VM), fault proxies in front of every
 * NATS node (one worker's view of the cluster), the gateway's lines about results it was handed twice, and which
 * partitions carried work (the consumers' delivery counters, read from the cluster itself).
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, parseWorkOptions, workConsumerName } from '../jetstream/index.js';
import type { CliProcess } from '../test-support/processes.js';
import { startFaultProxy, type FaultProxy } from '../test-support/fault-proxy.js';

/** One event of a worker about a partition, in log order. */
export type PartitionEvent =
  | { kind: 'taken'; partition: number; token: bigint }
  | { kind: 'lost' | 'failed' | 'given-up'; partition: number; error: string };

/** The JSON objects of a process's stderr (lines that are not JSON, or were cut by a SIGKILL, are skipped). */
export function jsonLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const v: unknown = JSON.parse(line);
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) out.push(v as Record<string, unknown>);
    } catch {
      // A line cut in the middle of its write.
    }
  }
  return out;
}

/** A fencing token as logged (a number, or a decimal string when it outgrows a double); null when it is neither. */
function tokenOf(v: unknown): bigint | null {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'bigint') return v;
  return null;
}

/** The partition events of a worker's log text. */
export function partitionEvents(stderr: string): PartitionEvent[] {
  const out: PartitionEvent[] = [];
  for (const l of jsonLines(stderr)) {
    // A worker gives partitions up for balance in one line naming them all (`partitions`), or one each (`partition`).
    if (l.msg === 'partitions given up for balance' && Array.isArray(l.partitions)) {
      for (const p of l.partitions)
        if (typeof p === 'number') out.push({ kind: 'given-up', partition: p, error: '' });
      continue;
    }
    const partition = l.partition;
    if (typeof partition !== 'number') continue;
    const error = typeof l.error === 'string' ? l.error : JSON.stringify(l.error ?? l.err ?? '');
    if (l.msg === 'partition taken') {
      const token = tokenOf(l.token);
      if (token !== null) out.push({ kind: 'taken', partition, token });
    } else if (l.msg === 'partition lost') out.push({ kind: 'lost', partition, error });
    else if (l.msg === 'partition failed') out.push({ kind: 'failed', partition, error });
    else if (l.msg === 'partition given up for balance') out.push({ kind: 'given-up', partition, error: '' });
  }
  return out;
}

/** The partitions a worker holds by its own log (taken and not since lost, failed or given up), with the token it took each with. */
export function heldWithTokens(stderr: string): Map<number, bigint> {
  const held = new Map<number, bigint>();
  for (const e of partitionEvents(stderr)) {
    if (e.kind === 'taken') held.set(e.partition, e.token);
    else held.delete(e.partition);
  }
  return held;
}

/** The partitions a worker holds by its own log, ascending. */
export function heldPartitions(stderr: string): number[] {
  return [...heldWithTokens(stderr).keys()].sort((a, b) => a - b);
}

/** Polls `cond` every `pollMs` until it holds (true) or `timeoutMs` passes (false): a wait on a signal with a deadline. */
export async function within(cond: () => boolean, timeoutMs: number, pollMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Per partition, the highest fencing token any of `procs` logged taking it with. */
export function highestTokens(procs: readonly CliProcess[]): Map<number, bigint> {
  const out = new Map<number, bigint>();
  for (const p of procs)
    for (const e of partitionEvents(p.stderr()))
      if (e.kind === 'taken' && e.token > (out.get(e.partition) ?? -1n)) out.set(e.partition, e.token);
  return out;
}

/**
 * Partitions of `before` (partition → token) that a process in `others` has since taken with a higher token: the
 * lease passed on, fenced.
 */
export function takenOver(before: ReadonlyMap<number, bigint>, others: readonly CliProcess[]): number[] {
  const now = highestTokens(others);
  return [...before].filter(([p, t]) => (now.get(p) ?? -1n) > t).map(([p]) => p);
}

/** A lost or failed partition whose error names the lease (a refused fenced commit or renewal). */
export function leaseLost(stderr: string, partitions: readonly number[]): number[] {
  const lost = new Set<number>();
  for (const e of partitionEvents(stderr))
    if (
      (e.kind === 'lost' || e.kind === 'failed') &&
      /HRV_ERR_LEASE_LOST|lease/i.test(`${e.kind} ${e.error}`)
    )
      lost.add(e.partition);
  return partitions.filter((p) => lost.has(p));
}

/** SIGSTOPs (or SIGCONTs) a worker's whole process group: the host process and its enclave child freeze together. */
export function pauseGroup(p: CliProcess, resume = false): void {
  const pgid = p.child.pid;
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, resume ? 'SIGCONT' : 'SIGSTOP');
  } catch {
    // The group is gone (it died meanwhile): nothing to pause or resume.
  }
}

/** Fault proxies in front of every NATS node: one worker's network to the cluster. */
export interface NatsLinks {
  proxies: FaultProxy[];
  /** `nats://127.0.0.1:<proxy port>` for every node, in node order. */
  urls: string[];
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

/** Starts one fault proxy per node URL (`nats://127.0.0.1:<port>`). */
export async function natsLinks(nodeUrls: readonly string[]): Promise<NatsLinks> {
  const proxies: FaultProxy[] = [];
  for (const u of nodeUrls) proxies.push(await startFaultProxy(Number(new URL(u).port)));
  return {
    proxies,
    urls: proxies.map((p) => `nats://127.0.0.1:${p.port}`),
    cut: () => proxies.forEach((p) => p.cut()),
    heal: () => proxies.forEach((p) => p.heal()),
    close: async () => {
      for (const p of proxies) await p.close();
    },
  };
}

/** What the gateway said about results it had kept already: byte-identical replays (harmless) and refused second versions (a duplicate result). */
export function gatewayResultRepeats(gateways: readonly CliProcess[]): {
  replayed: number;
  refusedAsRollback: number;
  rejected: number;
} {
  let replayed = 0;
  let refusedAsRollback = 0;
  let rejected = 0;
  for (const g of gateways)
    for (const l of jsonLines(g.stderr())) {
      const msg = String(l.msg);
      if (msg.startsWith('result replayed')) replayed++;
      else if (msg.startsWith('enclave state rollback detected')) refusedAsRollback++;
      else if (msg === 'result rejected') rejected++;
    }
  return { replayed, refusedAsRollback, rejected };
}

/** Per partition, how many work messages its consumer has delivered so far (read from the cluster; -1: not readable). */
export async function deliveredPerPartition(
  urls: readonly string[],
  prefix: string,
  partitions: number,
  replicas: number,
): Promise<number[]> {
  const work = parseWorkOptions({ prefix, partitions, replicas });
  const nc = await connectNats({ url: urls.join(','), name: 'hrvault-faults-probe', timeoutMs: 10_000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 10_000 });
    const out: number[] = [];
    for (let p = 0; p < partitions; p++) {
      const info = await jsm.consumers.info(work.stream, workConsumerName(work, p)).catch(() => undefined);
      out.push(info === undefined ? -1 : info.delivered.stream_seq === 0 ? 0 : info.delivered.consumer_seq);
    }
    return out;
  } finally {
    await nc.close();
  }
}
