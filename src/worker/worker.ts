/**
 * `hrvault worker`: an untrusted worker host and its enclave, one of N on any hosts, consuming the partitioned
 * work stream. It registers itself (so every worker can compute the same fair share), keeps leases on its share of
 * the partitions, runs one PartitionRunner per partition it holds, and answers attestation requests from hosts with
 * its enclave's quote (every worker's enclave holds the same cluster key ring, so any one may answer).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import {
  jetstream,
  jetstreamManager,
  type Consumer,
  type JetStreamClient,
  type JsMsg,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import type { Quote } from '../crypto/index.js';
import { ConfigError, HrvaultError } from '../errors.js';
import {
  ensureResultsStream,
  createdConcurrently,
  ensureWorkStream,
  collectPull,
  subjectsUnder,
  openLeaseBucket,
  parseResultsOptions,
  publishRefusal,
  publishResult,
  parseWorkOptions,
  PartitionLeases,
  subjects,
  workConsumer,
  workConsumerName,
  type ResultsOptions,
  type WorkOptions,
} from '../jetstream/index.js';
import { plan } from './assignment.js';
import { CheckpointStore, ensureStateStream } from './checkpoints.js';
import {
  emptyRunnerStats,
  PartitionRunner,
  type PartitionEnclave,
  type ResultSink,
  type RunnerStats,
  type WorkSource,
} from './partition-runner.js';

/** What the worker needs of its enclave (the enclave client in cluster mode). */
export interface WorkerEnclave extends PartitionEnclave {
  quote(nonce: Uint8Array): Promise<Quote>;
  close(): Promise<void>;
}

/** The worker's settings (times in ms); validated once at start. */
export const workerOptionsSchema = z.strictObject({
  /** Work stream options shared with the hosts: prefix, partitions, replicas, limits. */
  work: z.record(z.string(), z.unknown()),
  /** This worker's id: unique per process incarnation (default host-pid-random). */
  id: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,120}$/)
    .optional(),
  /** Lease length (default 10 s): how long a dead worker's partitions wait before another takes them. */
  leaseTtlMs: z.number().int().min(500).default(10_000),
  /** How far clocks of two worker hosts may differ (default 1 s). */
  maxClockSkewMs: z.number().int().min(0).default(1000),
  /** Most files per micro-batch of one partition (default 1000). */
  maxBatch: z.number().int().min(1).max(100_000).default(1000),
  /** How long one pull waits for work (default and least 1 s: the NATS client refuses shorter pulls). */
  fetchMs: z.number().int().min(1000).default(1000),
  /** Bounded reorder: how long a file waits for a missing predecessor (default 5 s). */
  reorderHoldMs: z.number().int().min(0).default(5000),
  /** How often the worker re-plans its share and heartbeats (default 1 s). */
  assignEveryMs: z.number().int().min(50).default(1000),
});
export type WorkerOptionsInput = z.input<typeof workerOptionsSchema>;

export interface WorkerHandle {
  readonly id: string;
  /** Partitions held right now. */
  owned(): number[];
  /** Totals over every runner this worker ran. */
  stats(): RunnerStats & { runners_started: number; leases_lost: number };
  /** Finishes the running micro-batches, gives the leases up and closes the enclave and the connection's subscriptions. */
  stop(): Promise<void>;
}

type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

/** Starts a worker on an open NATS connection with a ready enclave (holding the cluster secrets). */
export async function startWorker(
  nc: NatsConnection,
  enclave: WorkerEnclave,
  input: WorkerOptionsInput,
  log: Log = () => undefined,
): Promise<WorkerHandle> {
  const parsed = workerOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`worker option ${issue.path.join('.') || '(options)'}: ${issue.message}`, {
      cause: parsed.error,
    });
  }
  const o = parsed.data;
  const work: WorkOptions = parseWorkOptions(o.work);
  const id =
    o.id ??
    `${hostname()
      .replace(/[^A-Za-z0-9_.-]/g, '_')
      .slice(0, 60)}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const names = subjects(work.prefix);
  const timeoutMs = Math.max(5000, work.timeoutMs);
  const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
  const js: JetStreamClient = jetstream(nc, { timeout: timeoutMs });
  await ensureWorkStream(jsm, work);
  // The results stream as the hosts make it: as replicated as the work stream, same window and limits.
  const results = parseResultsOptions({
    prefix: work.prefix,
    replicas: work.replicas,
    duplicateWindowMs: work.duplicateWindowMs,
    maxAgeMs: work.maxAgeMs,
    maxBytes: work.maxBytes,
    timeoutMs: work.timeoutMs,
  });
  await ensureResultsStream(jsm, results);
  for (let p = 0; p < work.partitions; p++) await workConsumer(jsm, work, p);
  const leaseKv = await openLeaseBucket(nc, {
    bucket: names.leasesBucket,
    replicas: work.replicas,
    timeoutMs,
  });
  const leases = new PartitionLeases(leaseKv, {
    worker: id,
    ttlMs: o.leaseTtlMs,
    maxClockSkewMs: o.maxClockSkewMs,
  });
  await ensureStateStream(jsm, { prefix: work.prefix, replicas: work.replicas });
  const store = new CheckpointStore(jsm, js, work.prefix, timeoutMs);
  const openRegistry = (): Promise<KV> =>
    new Kvm(js).create(names.workersBucket, {
      replicas: work.replicas,
      history: 1,
      ttl: 3 * o.assignEveryMs + o.leaseTtlMs,
      timeout: timeoutMs,
    });
  // Workers starting together create the bucket together: a create that lost that race opens the winner's.
  const registry: KV = await openRegistry().catch(async (err: unknown) => {
    if (!(await createdConcurrently(jsm, `KV_${names.workersBucket}`, err))) throw err;
    return openRegistry();
  });
  const sink = resultSink(js, results);
  /** The ids of the workers registered and not expired (their registry keys). */
  const liveWorkers = (): Promise<string[]> =>
    subjectsUnder(jsm, `KV_${names.workersBucket}`, `$KV.${names.workersBucket}.`);

  const totals = { ...emptyRunnerStats(), runners_started: 0, leases_lost: 0 };
  const runners = new Map<number, PartitionRunner>();
  const addStats = (s: RunnerStats): void => {
    for (const k of Object.keys(s) as (keyof RunnerStats)[]) totals[k] += s[k];
  };

  const attestSub: Subscription = nc.subscribe(names.attest, {
    queue: `${work.prefix}-workers`,
    callback: (err, msg) => {
      if (err) return;
      enclave.quote(msg.data).then(
        (q) => msg.respond(JSON.stringify(q)),
        (e: unknown) =>
          msg.respond(
            JSON.stringify({
              error: {
                code: e instanceof HrvaultError ? e.code : 'HRV_ERR_ENCLAVE',
                message: e instanceof Error ? e.message : String(e),
              },
            }),
          ),
      );
    },
  });

  const startRunner = (p: number, lease: Awaited<ReturnType<PartitionLeases['acquire']>> & object): void => {
    const runner = new PartitionRunner({
      partition: p,
      leases,
      lease,
      store,
      enclave,
      work: workSource(js, work, p),
      sink,
      maxBatch: o.maxBatch,
      fetchMs: o.fetchMs,
      reorderHoldMs: o.reorderHoldMs,
      sweepAgeMs: 2 * o.leaseTtlMs,
      log,
    });
    runners.set(p, runner);
    totals.runners_started++;
    log('info', 'partition taken', { worker: id, partition: p, token: lease.token });
    void runner.done.then((end) => {
      if (runners.get(p) === runner) runners.delete(p);
      addStats(runner.stats);
      if (end.kind === 'lost') totals.leases_lost++;
    });
  };

  let stopping = false;
  let round: Promise<void> = Promise.resolve();
  const assign = async (): Promise<void> => {
    await registry.put(id, JSON.stringify({ owned: [...runners.keys()], at: Date.now() }));
    const live = await liveWorkers();
    const { share, take, give } = plan(work.partitions, live, new Set(runners.keys()), id);
    for (const p of take) {
      if (stopping || runners.size >= share) break;
      const lease = await leases.acquire(p).catch((err: unknown) => {
        log('warn', 'lease acquire failed', { partition: p, error: String(err) });
        return null;
      });
      if (lease) startRunner(p, lease);
    }
    if (give.length > 0 && !stopping) {
      log('info', 'partitions given up for balance', { worker: id, partitions: give, share });
      // Not awaited: a runner finishes its micro-batch first, and the next rounds (heartbeat, acquisitions) must not
      // wait on it; its partition stays in `runners` until it has released the lease.
      for (const p of give) void runners.get(p)?.stop();
    }
  };
  // One round at a time, each bounded: a round stuck on a request no timeout caught is abandoned (logged) after
  // ROUND_LIMIT_MS and the next one starts, so the heartbeat and the takeover of a dead worker's partitions go on.
  const roundLimitMs = Math.max(ROUND_LIMIT_MS, 2 * o.leaseTtlMs);
  let busy = false;
  const runRound = (): void => {
    if (busy || stopping) return;
    busy = true;
    let timer: NodeJS.Timeout | undefined;
    const overran = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        log('warn', 'assignment round overran; the next one starts', { worker: id, limit_ms: roundLimitMs });
        resolve();
      }, roundLimitMs);
    });
    const mine = assign().catch((err: unknown) =>
      log('warn', 'assignment round failed', { worker: id, error: String(err) }),
    );
    round = Promise.race([mine, overran]).finally(() => {
      clearTimeout(timer);
      busy = false;
    });
  };
  const timer = setInterval(runRound, o.assignEveryMs);
  runRound();

  return {
    id,
    owned: () => [...runners.keys()].sort((a, b) => a - b),
    stats: () => {
      const s = { ...totals };
      for (const r of runners.values())
        for (const k of Object.keys(r.stats) as (keyof RunnerStats)[]) s[k] += r.stats[k];
      return s;
    },
    stop: async () => {
      stopping = true;
      clearInterval(timer);
      await round;
      await Promise.all([...runners.values()].map((r) => r.stop()));
      attestSub.unsubscribe();
      // Purged, not deleted: a delete leaves a marker under the id, which would count as a live worker until it expires.
      await jsm.streams
        .purge(`KV_${names.workersBucket}`, { filter: `$KV.${names.workersBucket}.${id}` })
        .catch(() => undefined);
      await enclave.close();
    },
  };
}

/** The longest an assignment round may take before the next one starts anyway (ms; at least twice the lease TTL). */
const ROUND_LIMIT_MS = 20_000;

/** How long past its `expires` a pull may stay unanswered before the worker ends it itself (ms). */
const PULL_GRACE_MS = 10_000;

/** Partition `p`'s work: up to `max` messages per pull, waiting at most `expiresMs`. */
export function workSource(js: JetStreamClient, work: WorkOptions, p: number): WorkSource {
  // Looked up once per runner (a consumer-info request), then every pull goes straight to the durable consumer.
  let consumer: Promise<Consumer> | undefined;
  return {
    fetch: async (max, expiresMs) => {
      consumer ??= js.consumers.get(work.stream, workConsumerName(work, p));
      const c = await consumer.catch((err: unknown) => {
        consumer = undefined;
        throw err;
      });
      const iter = await c.fetch({ max_messages: max, expires: expiresMs });
      // The server ends a pull after `expires`; should its answer never come (a consumer leader lost with its node),
      // the pull is ended here too, so the runner's loop (and the lease it renews) is never stuck behind it.
      let overdue = false;
      const guard = setTimeout(() => {
        overdue = true;
        void iter.close();
      }, expiresMs + PULL_GRACE_MS);
      let out: JsMsg[];
      try {
        // Missed heartbeats end this pull, not the partition (src/jetstream/pull.ts): the messages in hand are processed
        // as any pull's. Failing the runner here restarted it and left them to the ack wait as well.
        out = await collectPull(iter);
      } finally {
        clearTimeout(guard);
      }
      if (overdue) {
        for (const m of out) m.nak();
        throw new HrvaultError(
          'HRV_ERR_JETSTREAM_UNANSWERED',
          `pull of partition ${p} unanswered ${expiresMs + PULL_GRACE_MS} ms after it was made`,
        );
      }
      return out;
    },
  };
}

/** Results and refusals to the results stream; each resolves once the stream stored it (or dropped it as a duplicate). */
function resultSink(js: JetStreamClient, results: ResultsOptions): ResultSink {
  return {
    result: async (r) => {
      await publishResult(js, results, r);
    },
    refusal: async (r) => {
      await publishRefusal(js, results, r);
    },
  };
}
