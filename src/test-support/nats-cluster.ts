/**
 * A real three-node NATS JetStream cluster on loopback for the integration and fault tests: three
 * `nats-server` processes with their own generated config, store directory and client, route and monitoring
 * ports, joined into one cluster. Nothing here fakes a server; a machine without `nats-server` skips.
 *
 * Readiness is read from each node's monitoring port (`/healthz`, which in a cluster answers 200 only once
 * the node has contact with a JetStream meta leader and is current, and `/jsz`, whose `meta_cluster.leader`
 * names the leader): "ready" means every running node is healthy and all of them name the same leader, one
 * of the running nodes. Every wait has a deadline and its error carries the nodes' log tails; nothing sleeps
 * for a fixed time.
 *
 * `kill(i)` is a SIGKILL (a crash: no lame-duck, no flush), `stop(i)` a SIGTERM (a clean shutdown), and
 * `restart(i)` starts the node again on the same ports and the same store, so it rejoins with its data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { z } from 'zod';
import { freePort } from './processes.js';

/** How a node is reached; fixed for the cluster's life so a restarted node comes back where it was. */
export interface NatsNodeInfo {
  /** `server_name`, also what `/jsz` and stream info name as leader. */
  readonly name: string;
  /** `nats://127.0.0.1:<client port>`. */
  readonly url: string;
  readonly clientPort: number;
  readonly clusterPort: number;
  readonly httpPort: number;
  readonly storeDir: string;
}

export interface NatsCluster {
  /** The nodes, index i = node i. */
  readonly nodes: readonly NatsNodeInfo[];
  /** Every node's client URL (pass them all to `connect({ servers })` so the client fails over). */
  readonly urls: readonly string[];
  /** True while node i's process runs. */
  running(i: number): boolean;
  /** Index of the node with this `server_name`, or -1. */
  indexOf(name: string): number;
  /** SIGKILLs node i and resolves once its process has exited. */
  kill(i: number): Promise<void>;
  /** SIGTERMs node i (clean shutdown) and resolves once it has exited; SIGKILL after `timeoutMs`. */
  stop(i: number, timeoutMs?: number): Promise<void>;
  /** Starts node i again on the same ports and store, and waits until the running nodes agree on a leader. */
  restart(i: number, timeoutMs?: number): Promise<void>;
  /**
   * Waits until every running node is healthy and names the same meta leader, one of the running nodes;
   * resolves with that leader's name.
   */
  waitForMetaLeader(timeoutMs?: number): Promise<string>;
  /**
   * Waits until every running node's monitoring port names the same running node as leader of `stream`
   * (and, with `not`, a node other than that one, e.g. a killed leader's successor); resolves with its name.
   * Asks the servers over HTTP, not through a client connection, so a client reconnecting or a JetStream
   * request timing out while the stream is leaderless cannot stretch the wait.
   */
  waitForStreamLeader(stream: string, opts?: { not?: string; timeoutMs?: number }): Promise<string>;
  /** The last part of node i's log (stderr and stdout), for failure messages. */
  logTail(i: number): string;
  /** Kills every node and removes the store directories and configs. */
  close(): Promise<void>;
}

export interface StartNatsClusterOptions {
  /**
   * Nodes (default 3; JetStream needs a majority to elect). 1 starts a standalone server, whose "meta
   * leader" is itself once healthy.
   */
  size?: number;
  /** Deadline for the whole cluster to become ready, in ms. */
  timeoutMs?: number;
  /** The `nats-server` binary (default: `findNatsServer()`). */
  binary?: string;
  /**
   * Do not tell clients the other nodes' client URLs (`cluster.no_advertise`). Clients then reach only the
   * URLs they were given: a test that routes one client through fault proxies needs this, or the client
   * would learn the nodes' real ports and reconnect around the proxies.
   */
  noAdvertise?: boolean;
  /**
   * Each node's `max_file_store` in bytes (default 1 GiB). Streams reserve their `max_bytes` in it on every
   * replica, so a test whose streams add up to more needs a larger limit; it is a limit, not an allocation.
   */
  maxFileStoreBytes?: number;
  /** How much of each node's log `logTail` keeps (default 20 000 characters). */
  logKeepChars?: number;
}

const LOG_KEEP = 20_000;
const POLL_MS = 50;

/**
 * The `nats-server` binary: `HRVAULT_NATS_SERVER`, else the first on PATH, /usr/sbin or /usr/local/bin; null
 * when there is none.
 */
export function findNatsServer(): string | null {
  const explicit = process.env.HRVAULT_NATS_SERVER;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin'].filter(
    (d) => d !== '',
  );
  const candidates = explicit ? [explicit] : dirs.map((d) => join(d, 'nats-server'));
  for (const c of candidates) {
    try {
      accessSync(c, fsConstants.X_OK);
      return c;
    } catch {
      // Not here; try the next place.
    }
  }
  return null;
}

/** The `nats-server` binary, or null after printing why the caller's tests are skipped. */
export function natsServerOrSkip(): string | null {
  const bin = findNatsServer();
  if (bin === null)
    console.log('skipped: no nats-server binary (install nats-server or set HRVAULT_NATS_SERVER)');
  return bin;
}

/**
 * Polls `check` every 100 ms until it returns something other than undefined and resolves with it; a
 * throw counts as "not yet" (a cluster in failover answers with errors). Rejects after `timeoutMs` with the
 * last error as cause.
 */
export async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`, { cause: last });
    // Polling interval; the deadline bounds the loop.
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Distinct free loopback ports (freePort alone can hand the same port out twice in a row). */
async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

function configText(
  node: NatsNodeInfo,
  all: readonly NatsNodeInfo[],
  noAdvertise: boolean,
  maxFileStore: number,
): string {
  const routes = all
    .filter((o) => o.name !== node.name)
    .map((o) => `    "nats-route://127.0.0.1:${o.clusterPort}"`)
    .join('\n');
  // Small limits: the tests store little, and a cluster on a shared machine must not reserve its disk.
  const base = [
    `server_name: "${node.name}"`,
    `listen: "127.0.0.1:${node.clientPort}"`,
    `http: "127.0.0.1:${node.httpPort}"`,
    'jetstream {',
    `  store_dir: "${node.storeDir}"`,
    '  max_memory_store: 67108864',
    `  max_file_store: ${maxFileStore}`,
    '}',
  ];
  // One node is a standalone server (no cluster block), the way a single-host deployment runs.
  const cluster =
    all.length === 1
      ? []
      : [
          'cluster {',
          '  name: "hrvault-test"',
          `  listen: "127.0.0.1:${node.clusterPort}"`,
          ...(noAdvertise ? ['  no_advertise: true'] : []),
          '  routes: [',
          routes,
          '  ]',
          '}',
        ];
  return [...base, ...cluster, ''].join('\n');
}

interface NodeHealth {
  healthy: boolean;
  leader: string | undefined;
  problem: string;
}

/** The part of `/jsz?accounts=true&streams=true` read here: each stream's leader as this node sees it. */
const jszStreamsSchema = z.object({
  account_details: z
    .array(
      z.object({
        stream_detail: z
          .array(
            z.object({ name: z.string(), cluster: z.object({ leader: z.string().optional() }).optional() }),
          )
          .optional(),
      }),
    )
    .optional(),
});

/** The leader of `stream` as `node` sees it; undefined while it sees none (or cannot be asked). */
async function streamLeaderSeenBy(node: NatsNodeInfo, stream: string): Promise<string | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${node.httpPort}/jsz?accounts=true&streams=true`, {
      signal: AbortSignal.timeout(2000),
    });
    const jsz = jszStreamsSchema.parse(await r.json());
    for (const a of jsz.account_details ?? [])
      for (const st of a.stream_detail ?? []) if (st.name === stream) return st.cluster?.leader || undefined;
    return undefined;
  } catch {
    // A node busy with an election may not answer in time: "no leader seen yet".
    return undefined;
  }
}

async function probe(node: NatsNodeInfo): Promise<NodeHealth> {
  const base = `http://127.0.0.1:${node.httpPort}`;
  try {
    const h = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000) });
    const hBody = await h.text();
    const j = await fetch(`${base}/jsz`, { signal: AbortSignal.timeout(2000) });
    const jsz = (await j.json()) as { meta_cluster?: { leader?: string } };
    const leader = jsz.meta_cluster?.leader || undefined;
    return {
      healthy: h.status === 200,
      leader,
      problem: `healthz ${h.status} ${hBody.trim().slice(0, 200)}; meta leader ${leader ?? 'none'}`,
    };
  } catch (err) {
    return { healthy: false, leader: undefined, problem: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * Starts a JetStream cluster of `size` (default 3) `nats-server` processes on free loopback ports and waits
 * until it has a meta leader; `close()` it in `afterAll`.
 */
export async function startNatsCluster(opts: StartNatsClusterOptions = {}): Promise<NatsCluster> {
  const size = opts.size ?? 3;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const binary = opts.binary ?? findNatsServer();
  if (binary === null)
    throw new Error('no nats-server binary (install nats-server or set HRVAULT_NATS_SERVER)');

  const dir = await mkdtemp(join(tmpdir(), 'hrvault-nats-'));
  const ports = await distinctFreePorts(size * 3);
  const nodes: NatsNodeInfo[] = Array.from({ length: size }, (_, i) => ({
    name: `n${i}`,
    url: `nats://127.0.0.1:${ports[3 * i]}`,
    clientPort: ports[3 * i]!,
    clusterPort: ports[3 * i + 1]!,
    httpPort: ports[3 * i + 2]!,
    storeDir: join(dir, `n${i}`, 'store'),
  }));
  const configs = nodes.map((n) => join(dir, n.name, 'nats.conf'));
  for (const [i, n] of nodes.entries()) {
    await mkdir(n.storeDir, { recursive: true });
    await writeFile(
      configs[i]!,
      configText(n, nodes, opts.noAdvertise === true, opts.maxFileStoreBytes ?? 2 ** 30),
    );
  }

  const procs: (ChildProcess | null)[] = nodes.map(() => null);
  const exits: (Promise<void> | null)[] = nodes.map(() => null);
  const logs: string[] = nodes.map(() => '');
  const append = (i: number, d: Buffer): void => {
    const s = logs[i]! + d.toString();
    const keep = opts.logKeepChars ?? LOG_KEEP;
    logs[i] = s.length > keep ? s.slice(-keep) : s;
  };

  const start = (i: number): void => {
    const child = spawn(binary, ['-c', configs[i]!], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => append(i, d));
    child.stderr.on('data', (d: Buffer) => append(i, d));
    procs[i] = child;
    exits[i] = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        logs[i] += `\n[harness] ${nodes[i]!.name} exited (${code ?? signal})\n`;
        if (procs[i] === child) procs[i] = null;
        resolve();
      });
    });
  };
  // Orphaned servers would hold ports and disk after a crashed test run; an exit hook cannot await, so it
  // only signals.
  const onExit = (): void => {
    for (const p of procs) p?.kill('SIGKILL');
  };
  process.once('exit', onExit);

  const running = (i: number): boolean => procs[i] !== null;
  const tails = (): string =>
    nodes
      .map((n, i) => `--- ${n.name} (${running(i) ? 'running' : 'down'}):\n${logs[i]!.slice(-1500)}`)
      .join('\n');

  const waitForMetaLeader = async (deadlineMs = timeoutMs): Promise<string> => {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const live = nodes.filter((_, i) => running(i));
      const states = await Promise.all(live.map(probe));
      // A standalone server has no meta group: it leads itself.
      const named =
        nodes.length === 1
          ? states.map((s) => (s.healthy ? nodes[0]!.name : undefined))
          : states.map((s) => s.leader);
      const leaders = new Set(named);
      const leader = named[0];
      if (
        live.length > 0 &&
        states.every((s) => s.healthy) &&
        leaders.size === 1 &&
        leader !== undefined &&
        live.some((n) => n.name === leader)
      )
        return leader;
      if (Date.now() > deadline) {
        const why = live.map((n, k) => `${n.name}: ${states[k]!.problem}`).join('; ');
        throw new Error(
          `NATS cluster had no agreed meta leader within ${deadlineMs} ms (${why})\n${tails()}`,
        );
      }
      // Polling interval; the deadline above bounds the wait.
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };

  const waitForStreamLeader = async (
    stream: string,
    o: { not?: string; timeoutMs?: number } = {},
  ): Promise<string> => {
    const deadlineMs = o.timeoutMs ?? timeoutMs;
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const live = nodes.filter((_, i) => running(i));
      const seen = await Promise.all(live.map((n) => streamLeaderSeenBy(n, stream)));
      const leader = seen[0];
      if (
        leader !== undefined &&
        leader !== o.not &&
        seen.every((s) => s === leader) &&
        live.some((n) => n.name === leader)
      )
        return leader;
      if (Date.now() > deadline) {
        const why = live.map((n, k) => `${n.name} sees ${seen[k] ?? 'no leader'}`).join('; ');
        throw new Error(
          `stream ${stream} had no agreed leader${o.not ? ` other than ${o.not}` : ''} within ${deadlineMs} ms (${why})\n${tails()}`,
        );
      }
      // Polling interval; the deadline above bounds the wait.
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };

  const terminate = async (i: number, signal: NodeJS.Signals, timeoutMs2: number): Promise<void> => {
    const p = procs[i];
    const exited = exits[i];
    if (!p || !exited) return;
    p.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const escalated = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        p.kill('SIGKILL');
        resolve();
      }, timeoutMs2);
    });
    await Promise.race([exited, escalated]);
    clearTimeout(timer);
    await exited;
  };

  for (let i = 0; i < size; i++) start(i);
  try {
    await waitForMetaLeader(timeoutMs);
  } catch (err) {
    for (let i = 0; i < size; i++) await terminate(i, 'SIGKILL', 5000);
    process.removeListener('exit', onExit);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    nodes,
    urls: nodes.map((n) => n.url),
    running,
    indexOf: (name) => nodes.findIndex((n) => n.name === name),
    kill: (i) => terminate(i, 'SIGKILL', 5000),
    stop: (i, t = 10_000) => terminate(i, 'SIGTERM', t),
    restart: async (i, t = timeoutMs) => {
      if (running(i)) throw new Error(`node ${nodes[i]!.name} is still running; kill or stop it first`);
      start(i);
      await waitForMetaLeader(t);
    },
    waitForMetaLeader,
    waitForStreamLeader,
    logTail: (i) => logs[i] ?? '',
    close: async () => {
      for (let i = 0; i < size; i++) await terminate(i, 'SIGKILL', 5000);
      process.removeListener('exit', onExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
