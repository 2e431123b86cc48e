/**
 * Partition ownership with fencing, on a JetStream KV bucket.
 *
 * Key `partition.<n>` holds `{worker, expires_ms, write_id, commit?}`. A worker acquires a partition with
 * KV `create` (the key is new or deleted) or with `update(…, revision)` once the current lease has expired;
 * it renews with `update(…, its revision)`. Every write is a compare-and-set on the key's last revision,
 * decided by the KV stream's leader through its Raft group, so of two writers with the same expected
 * revision exactly one wins. The revision of the write a worker made last is its **fencing token**; it
 * moves on with every write, and since revisions are the stream's sequence numbers, a later owner's token
 * is always larger than an earlier one's.
 *
 * **What fences.** `assertOwner` only reads (check-then-act: the lease can change hands right after it).
 * The fence is the write: `fencedCommit(lease, prepare)` ends with a compare-and-set of the lease key that
 * carries the commit (`commit`, an opaque pointer such as a checkpoint's object name or sequence), so
 * "still the owner" and "this is the committed state" are one atomic step. Whatever `prepare` wrote
 * elsewhere is only a candidate until the lease key names it; the next owner reads `commit` from the
 * lease key and ignores every candidate it does not name. State outside this bucket that cannot follow a
 * pointer (a message on a results stream) carries the token, and its reader keeps the largest token seen
 * per partition and drops smaller ones.
 *
 * **A paused worker's late write.** A worker SIGSTOPped past its expiry, then SIGCONTed, may still
 * believe it owns the partition. Its first fenced write is a compare-and-set with its old revision; if
 * another worker took the partition meanwhile, the key's last revision has moved on and JetStream answers
 * `wrong last sequence` (API error 10071), which surfaces here as `LeaseLostError` (HRV_ERR_LEASE_LOST)
 * with the JetStream error as `cause`. If nobody took it, the write succeeds, and rightly: no other worker
 * can have written in between. Before writing, the holder also refuses on its own when its local deadline
 * has passed (`renew` first), so a resumed worker does not even run `prepare`.
 *
 * **Clocks.** Safety (one committer per partition) depends on no clock: only on the compare-and-set.
 * Clocks decide only when a lease may be taken over, i.e. liveness and how long two workers may both
 * *believe* they own a partition. `expires_ms` is the writer's wall clock plus the TTL at the moment it
 * sent the write; a contender judges it expired by *its own* wall clock, and only after `maxClockSkewMs`
 * more. The holder counts its lease valid until its own monotonic clock passes send time + TTL. So as long
 * as the two hosts' wall clocks differ by less than `maxClockSkewMs` (and run at nearly the same rate), a
 * holder stops believing before a contender may take over. A larger skew, a clock step or a GC pause only
 * lets two workers believe at once; their commits are still fenced.
 *
 * **Ambiguous writes.** A write whose reply is lost (a leader failover) may or may not have landed. Each
 * write carries a fresh `write_id`; the retry of the same write then fails with `wrong last sequence`, and
 * if the key holds our `write_id` the write did land and its revision becomes the token.
 *
 * **Server version.** All of the above rests on the server deciding each compare-and-set atomically. On a
 * clustered stream (replicas > 1) nats-server before 2.9.21 checked `Nats-Expected-Last-Subject-Sequence` only
 * before proposing the write to Raft, so two concurrent updates expecting the same revision could both be
 * stored and both acknowledged (nats-io/nats-server#4320, fixed by #4319 in 2.9.21): two contenders could both
 * "win" a lease, and a takeover racing the old owner's commit could overwrite that commit. `openLeaseBucket`
 * therefore refuses replicas > 1 on an older server unless told the caller never lets two writers race on one
 * revision. A single server (replicas 1, not clustered) checks at apply time and is not affected.
 *
 * One write at a time per partition: calls for one partition are queued in order, and a call made with an
 * older `Lease` of the same ownership period uses the newest token (so a renew timer and a commit do not
 * fence each other out).
 */
import { randomUUID } from 'node:crypto';
import { jetstream, JetStreamApiCodes, JetStreamApiError, StorageType } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { ConfigError, HrvaultError } from '../errors.js';

/** The bucket the leases live in unless a caller names another. */
export const LEASE_BUCKET = 'hrvault_leases';

/** The value under `partition.<n>`. */
export const leaseValueSchema = z.strictObject({
  worker: z.string().min(1).max(200),
  /** Writer's wall clock (ms since the epoch) after which the lease may be taken over; 0 = released. */
  expires_ms: z.number().int().min(0),
  /** Random per write: tells a retried write that its first attempt landed. */
  write_id: z.string().min(1).max(64),
  /** What the owner committed last (opaque here: a checkpoint's name or sequence), kept across owners. */
  commit: z.string().max(4096).optional(),
});
export type LeaseValue = z.infer<typeof leaseValueSchema>;

/** One worker's hold on one partition, as of its last successful write. */
export interface Lease {
  readonly partition: number;
  readonly worker: string;
  /** The KV revision of the last write: the fencing token. */
  readonly token: number;
  /** The token at acquisition: identifies this ownership period across renewals. */
  readonly epoch: number;
  /** `expires_ms` as written (writer's wall clock, ms). */
  readonly expiresMs: number;
  /** `performance.now()` (ms) until which the holder itself counts the lease valid. */
  readonly validUntil: number;
  readonly commit: string | undefined;
}

/** The lease was taken over, expired before it could be confirmed, or was never this worker's. */
export class LeaseLostError extends HrvaultError {
  readonly partition: number;
  readonly token: number;
  constructor(partition: number, token: number, reason: string, options?: { cause?: unknown }) {
    super(
      'HRV_ERR_LEASE_LOST',
      `partition ${partition}: lease with fencing token ${token} is lost: ${reason}`,
      options,
    );
    this.name = 'LeaseLostError';
    this.partition = partition;
    this.token = token;
  }
}

export interface LeaseBucketOptions {
  /** Bucket name (default LEASE_BUCKET). */
  bucket?: string;
  /** 3 on a cluster (survives one node), 1 on a single server. */
  replicas: number;
  /** Timeout of the bucket's operations and of the JetStream API calls that create or look it up, ms (default 5000). */
  timeoutMs?: number;
  /**
   * Accept replicas > 1 on a server older than SERIALIZABLE_CAS_SINCE: only for callers (tests) that never
   * let two writers race with one expected revision, since such a server may accept both.
   */
  allowUnserializableServer?: boolean;
}

/** The first nats-server release whose clustered compare-and-set is atomic (nats-io/nats-server#4319). */
export const SERIALIZABLE_CAS_SINCE = '2.9.21';

/** True when nats-server `version` ("2.9.10", "2.10.18-beta") has an atomic clustered compare-and-set. */
export function hasSerializableClusteredCas(version: string): boolean {
  const parse = (v: string): number[] => (/^v?(\d+)\.(\d+)\.(\d+)/.exec(v) ?? []).slice(1, 4).map(Number);
  const have = parse(version);
  const need = parse(SERIALIZABLE_CAS_SINCE);
  if (have.length !== 3) return false;
  for (let i = 0; i < 3; i++) if (have[i] !== need[i]) return have[i]! > need[i]!;
  return true;
}

/**
 * Opens the lease bucket, creating it when absent: file storage, history 1, reads through the stream
 * leader (no direct get from a replica that may lag behind the last write). Refuses replicas > 1 on a
 * server without an atomic clustered compare-and-set (see the module header).
 */
export function openLeaseBucket(nc: NatsConnection, opts: LeaseBucketOptions): Promise<KV> {
  const version = nc.info?.version ?? 'unknown';
  if (opts.replicas > 1 && !hasSerializableClusteredCas(version) && opts.allowUnserializableServer !== true) {
    return Promise.reject(
      new ConfigError(
        `nats-server ${version} cannot fence a replicated lease bucket: before ${SERIALIZABLE_CAS_SINCE} a ` +
          'clustered stream may accept two updates that expect the same revision (nats-io/nats-server#4320); ' +
          'upgrade the servers, or use replicas 1 on a single server',
      ),
    );
  }
  // The API timeout too: creating an R3 bucket waits for a stream leader, which takes seconds during an election.
  return new Kvm(jetstream(nc, { timeout: opts.timeoutMs ?? 5000 })).create(opts.bucket ?? LEASE_BUCKET, {
    replicas: opts.replicas,
    history: 1,
    storage: StorageType.File,
    allow_direct: false,
    timeout: opts.timeoutMs ?? 5000,
  });
}

export interface PartitionLeasesOptions {
  /** This worker's id: unique per process incarnation (a restarted worker is a new contender). */
  worker: string;
  /** Lease length, ms. */
  ttlMs: number;
  /** How far another host's wall clock may be off ours, ms (default 1000); delays takeovers by as much. */
  maxClockSkewMs?: number;
  /** Per-request timeout, ms (default 2000). */
  requestTimeoutMs?: number;
  /** Wall clock, ms since the epoch (a test injects skew here). */
  now?: () => number;
}

/** True for JetStream's answer to a compare-and-set whose expected revision is not the key's last. */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** The KV key of partition `n`. */
export function leaseKey(partition: number): string {
  if (!Number.isSafeInteger(partition) || partition < 0)
    throw new RangeError(`bad partition number ${partition}`);
  return `partition.${partition}`;
}

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 500;

/** One worker's leases over the partitions of one bucket. */
export class PartitionLeases {
  readonly #kv: KV;
  readonly #worker: string;
  readonly #ttlMs: number;
  readonly #skewMs: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  /** The newest lease this worker holds per partition. */
  readonly #held = new Map<number, Lease>();
  /** A write whose outcome is unknown (its reply was lost), per partition. */
  readonly #pending = new Map<number, { value: LeaseValue; sentAt: number }>();
  readonly #queues = new Map<number, Promise<unknown>>();

  constructor(kv: KV, opts: PartitionLeasesOptions) {
    if (!(opts.ttlMs > 0)) throw new RangeError('ttlMs must be > 0');
    this.#kv = kv;
    this.#worker = opts.worker;
    this.#ttlMs = opts.ttlMs;
    this.#skewMs = opts.maxClockSkewMs ?? 1000;
    if (!(this.#skewMs >= 0)) throw new RangeError('maxClockSkewMs must be >= 0');
    this.#timeoutMs = opts.requestTimeoutMs ?? 2000;
    this.#now = opts.now ?? Date.now;
  }

  get worker(): string {
    return this.#worker;
  }

  /** The lease key's current value and revision, read through the stream leader; null when absent. */
  async read(partition: number): Promise<{ value: LeaseValue; revision: number } | null> {
    const e = await this.#kv.get(leaseKey(partition));
    if (e === null || e.operation !== 'PUT') return null;
    const parsed = leaseValueSchema.safeParse(e.json());
    if (!parsed.success)
      throw new HrvaultError('HRV_ERR_CONTRACT', `lease key ${leaseKey(partition)} holds a malformed value`, {
        cause: parsed.error,
      });
    return { value: parsed.data, revision: e.revision };
  }

  /** True when `value` may be taken over now, judged by this worker's wall clock less the skew allowance. */
  expired(value: LeaseValue): boolean {
    return this.#now() > value.expires_ms + this.#skewMs;
  }

  /**
   * Takes partition `n` when it is free or its lease has expired; null when another worker holds it or won
   * the race. Transport errors are thrown (the outcome is then unknown; a later call resolves it).
   */
  acquire(partition: number): Promise<Lease | null> {
    return this.#serial(partition, async () => {
      const cur = await this.read(partition);
      const pending = this.#pending.get(partition);
      if (cur !== null && pending !== undefined && cur.value.write_id === pending.value.write_id) {
        // An earlier acquire whose reply was lost did land.
        this.#pending.delete(partition);
        return this.#hold(partition, cur.revision, cur.revision, pending.value, pending.sentAt);
      }
      const held = this.#held.get(partition);
      if (cur !== null && held !== undefined && cur.revision === held.token) return held;
      if (cur !== null && !this.expired(cur.value)) return null;
      const value = this.#value(cur?.value.commit, this.#now() + this.#ttlMs);
      const sentAt = performance.now();
      let rev: number;
      try {
        rev =
          cur === null
            ? await this.#kv.create(leaseKey(partition), JSON.stringify(value))
            : await this.#kv.update(
                leaseKey(partition),
                JSON.stringify(value),
                cur.revision,
                this.#timeoutMs,
              );
      } catch (err) {
        if (isWrongLastSequence(err)) {
          this.#pending.delete(partition);
          return null;
        }
        this.#pending.set(partition, { value, sentAt });
        throw err;
      }
      this.#pending.delete(partition);
      return this.#hold(partition, rev, rev, value, sentAt);
    });
  }

  /** Extends the lease by the TTL; the returned lease carries the new token. Throws LeaseLostError. */
  renew(lease: Lease): Promise<Lease> {
    return this.#serial(lease.partition, async () => {
      const held = this.#current(lease);
      return this.#write(held, held.commit, this.#now() + this.#ttlMs);
    });
  }

  /**
   * Throws LeaseLostError unless `lease`'s ownership period is still this worker's by its own clock and
   * the key's revision is still its token. Advisory: the lease can change hands right after it returns.
   */
  assertOwner(lease: Lease): Promise<void> {
    return this.#serial(lease.partition, () => this.#assertOwner(this.#current(lease)));
  }

  /**
   * Runs `prepare(token)` while this worker owns the partition, then commits what it returns with one
   * compare-and-set of the lease key (which also renews it). A worker that lost the lease before or during
   * `prepare` gets LeaseLostError and its commit is not recorded.
   */
  fencedCommit<T>(
    lease: Lease,
    prepare: (token: number) => Promise<{ commit: string; result: T }>,
  ): Promise<{ lease: Lease; result: T }> {
    return this.#serial(lease.partition, async () => {
      const held = this.#current(lease);
      await this.#assertOwner(held);
      const { commit, result } = await prepare(held.token);
      const next = await this.#write(held, commit, this.#now() + this.#ttlMs);
      return { lease: next, result };
    });
  }

  /** Gives the partition up at once (expiry 0, the last commit kept); a lease already lost is a no-op. */
  release(lease: Lease): Promise<void> {
    return this.#serial(lease.partition, async () => {
      const held = this.#held.get(lease.partition);
      if (held === undefined || held.epoch !== lease.epoch) return;
      try {
        await this.#write(held, held.commit, 0);
      } catch (err) {
        if (!(err instanceof LeaseLostError)) throw err;
      }
      this.#held.delete(lease.partition);
    });
  }

  /** The newest lease of `lease`'s ownership period, or LeaseLostError when that period is over. */
  #current(lease: Lease): Lease {
    const held = this.#held.get(lease.partition);
    if (held === undefined || held.epoch !== lease.epoch)
      throw new LeaseLostError(lease.partition, lease.token, 'this worker no longer holds it');
    return held;
  }

  async #assertOwner(held: Lease): Promise<void> {
    if (performance.now() > held.validUntil) {
      throw new LeaseLostError(
        held.partition,
        held.token,
        "its time ran out on this worker's clock (renew first)",
      );
    }
    const cur = await this.read(held.partition);
    if (cur === null || cur.revision !== held.token) {
      this.#held.delete(held.partition);
      throw new LeaseLostError(
        held.partition,
        held.token,
        cur === null ? 'the key is gone' : `the key is at revision ${cur.revision} (${cur.value.worker})`,
      );
    }
  }

  /**
   * Compare-and-set of the lease key from `held.token`. Retries transport errors (a leader failover) until
   * the lease's local deadline; a retry that finds the key moved checks whether the move was its own write.
   */
  async #write(held: Lease, commit: string | undefined, expiresMs: number): Promise<Lease> {
    const value = this.#value(commit, expiresMs);
    const sentAt = performance.now();
    let pauseMs = RETRY_MIN_MS;
    for (;;) {
      let failure: unknown;
      try {
        const rev = await this.#kv.update(
          leaseKey(held.partition),
          JSON.stringify(value),
          held.token,
          this.#timeoutMs,
        );
        return this.#hold(held.partition, rev, held.epoch, value, sentAt);
      } catch (err) {
        failure = err;
      }
      if (isWrongLastSequence(failure)) {
        let cur: { value: LeaseValue; revision: number } | null | undefined;
        try {
          cur = await this.read(held.partition);
        } catch (err) {
          // The read failed too: whether our write landed is still unknown, so try again below.
          failure = err;
        }
        if (cur !== undefined) {
          if (cur !== null && cur.value.write_id === value.write_id)
            return this.#hold(held.partition, cur.revision, held.epoch, value, sentAt);
          this.#held.delete(held.partition);
          throw new LeaseLostError(
            held.partition,
            held.token,
            cur === null
              ? 'the key is gone'
              : `taken over: the key is at revision ${cur.revision} (${cur.value.worker})`,
            { cause: failure },
          );
        }
      }
      if (performance.now() >= held.validUntil) {
        this.#held.delete(held.partition);
        throw new LeaseLostError(held.partition, held.token, 'it could not be confirmed before it expired', {
          cause: failure,
        });
      }
      // Back-off between retries of a failed request (not a wait for a condition): the lease's own
      // deadline above bounds the loop.
      await new Promise((r) => setTimeout(r, pauseMs));
      pauseMs = Math.min(RETRY_MAX_MS, pauseMs * 2);
    }
  }

  #value(commit: string | undefined, expiresMs: number): LeaseValue {
    return {
      worker: this.#worker,
      expires_ms: expiresMs,
      write_id: randomUUID(),
      ...(commit === undefined ? {} : { commit }),
    };
  }

  #hold(partition: number, token: number, epoch: number, value: LeaseValue, sentAt: number): Lease {
    const lease: Lease = {
      partition,
      worker: this.#worker,
      token,
      epoch,
      expiresMs: value.expires_ms,
      // Counted from when the write was sent, not when its reply came: the contender's clock started no
      // earlier than that.
      validUntil: value.expires_ms === 0 ? sentAt : sentAt + this.#ttlMs,
      commit: value.commit,
    };
    this.#held.set(partition, lease);
    return lease;
  }

  #serial<T>(partition: number, fn: () => Promise<T>): Promise<T> {
    const prev = this.#queues.get(partition) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    this.#queues.set(
      partition,
      run.then(
        () => undefined,
        () => undefined,
      ),
    );
    return run;
  }
}
