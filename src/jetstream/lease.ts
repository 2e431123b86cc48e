/**
 * Partition ownership with fencing, on a JetStream KV bucket.
 *
 * Key `partition.<n>` holds `{worker, expires_ms, write_id, commit?}`. A worker acquires a partition when the
 * key is absent (or deleted) or its lease has expired, and renews by writing it again. Every write is a
 * compare-and-set that the server decides atomically, so of two writers expecting the same state exactly one
 * wins. The revision of the write a worker made last is its **fencing token**; it moves on with every
 * write, and since revisions are the stream's sequence numbers, a later owner's token is always larger than an
 * earlier one's.
 *
 * **The compare-and-set: two expectations.** Each write is published by this module itself to the key's
 * subject (`$KV.<bucket>.partition.<n>`) with two headers:
 * - `Nats-Expected-Last-Subject-Sequence: <token>` (0 when the key has never been written): the key's last
 *   revision must be our token. This is what `kv.update` sends. On a clustered stream nats-server before
 *   2.9.21 checks it only on the leader *before* proposing the write to Raft (nats-io/nats-server#4320), so
 *   several writes expecting one revision can all pass it and all be stored. Measured on this machine's 2.9.10
 *   (3-node cluster, R3 file stream, three connections publishing to one subject at once, 300 rounds): with
 *   this header alone 186 rounds accepted more than one write.
 * - `Nats-Expected-Last-Sequence: <L>`: the *stream's* last sequence must be L, where L is read before the
 *   key (stream info, then the key; a key revision above L means a write came in between, so both are read
 *   again). The server checks this one when it applies the entry, in Raft order on every replica, so it is
 *   atomic on any version: same experiment, 0 of 300 rounds with more than one write accepted, and never a
 *   round with none accepted; with both headers also 0 of 300. Since the key was at our token when the
 *   stream was at L, "stream still at L" implies "key still at our token". The first header stays as a
 *   second, per-key guard (and is exact by itself on a standalone server and on 2.9.21+).
 * Older servers skipped the stream-wide check when the expected value was 0 (2.9.10 does check it), so a
 * still-empty bucket first gets a marker key (`MARKER_KEY`) and L is never 0.
 *
 * **Cost: one sequence for all partitions.** A write now fails when *any* key of the bucket was written
 * between our read of L and the server applying our write, not only when our partition's key moved. Such a
 * refusal is told apart by reading again: the key still at our token (and not holding our `write_id`) means
 * another partition moved the stream, and the write is published again with the new L, after a jittered
 * back-off, until the lease's local deadline (an acquisition gives up after half a TTL and returns null). Each
 * write therefore costs a STREAM.INFO request and a key read before the publish (a renewal used to be one
 * `kv.update`), and under many partitions renewing at once some writes take several rounds.
 *
 * **Timeouts.** While a stream has no leader (an election after a node loss: 4-9 s on the test cluster) no
 * server answers a JetStream request, so every read and write here uses the bucket's short `requestTimeoutMs`
 * (default 2 s) and is retried, instead of waiting out the long timeout a bucket creation needs.
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
 * believe it owns the partition. Its first fenced write reads the key, finds a revision other than its
 * token (someone took the partition), and fails with `LeaseLostError` (HRV_ERR_LEASE_LOST); had the key
 * moved only after that read, the server refuses the write (`wrong last sequence`, API error 10071) and the
 * re-read finds the same. If nobody took it, the write succeeds, and rightly: no other worker can have
 * written in between. Before writing, the holder also refuses on its own when its local deadline has passed
 * (`renew` first), so a resumed worker does not even run `prepare`.
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
 * write carries a fresh `write_id`, kept across the retries of that write; a retry first reads the key, and
 * if it holds our `write_id` the write did land and its revision becomes the token.
 *
 * One write at a time per partition: calls for one partition are queued in order, and a call made with an
 * older `Lease` of the same ownership period uses the newest token (so a renew timer and a commit do not
 * fence each other out).
 */
import { randomUUID } from 'node:crypto';
import {
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { TimeoutError, type NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { HrvaultError } from '../errors.js';
import { createdConcurrently } from './streams.js';

/** The bucket the leases live in unless a caller names another. */
export const LEASE_BUCKET = 'hrvault_leases';

/** Written once into an empty bucket so that its stream's last sequence is never 0 (see the module header). */
export const MARKER_KEY = 'sequence_origin';

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
  /** Deadline for creating or looking up the bucket, ms (default 5000), spent in attempts of up to 3 s. */
  timeoutMs?: number;
  /**
   * Timeout of each lease read and write, ms (default 2000). Short on purpose: while a stream has no leader
   * (an election after a node loss, ~5 s here) no server answers, and a lease operation waiting out a long
   * timeout would resume only long after the new leader is there; a short one is retried within the lease.
   */
  requestTimeoutMs?: number;
}

/** An open lease bucket: the KV view for reads and the JetStream handles the compare-and-set publishes with. */
export interface LeaseBucket {
  /** The bucket's name; its stream is `KV_<name>`, its keys' subjects `$KV.<name>.<key>`. */
  readonly name: string;
  readonly kv: KV;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Timeout of each lease read and write, ms. */
  readonly requestTimeoutMs: number;
}

/**
 * Opens the lease bucket, creating it when absent: file storage, history 1, reads through the stream
 * leader (no direct get from a replica that may lag behind the last write). Any replica count and server
 * version: the writes are atomic either way (see the module header).
 */
export async function openLeaseBucket(nc: NatsConnection, opts: LeaseBucketOptions): Promise<LeaseBucket> {
  const name = opts.bucket ?? LEASE_BUCKET;
  const timeout = opts.timeoutMs ?? 5000;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 2000;
  // Creating is idempotent, and an attempt may get no answer at all: on a cluster, a create or info request
  // that arrives while the new stream has no leader yet (several workers creating the bucket at once) is
  // answered by nobody (nats-server 2.9.10 forwards an identical create as an info request, which only the
  // leader answers; seen here in 3 of 12 rounds of three concurrent creators, each time one of them). So each
  // attempt gets a few seconds and is repeated until `timeoutMs`.
  const attemptMs = Math.min(timeout, CREATE_ATTEMPT_MS);
  const deadline = performance.now() + timeout;
  const backoff = new Backoff(RETRY_MIN_MS, RETRY_MAX_MS);
  for (;;) {
    try {
      await new Kvm(jetstream(nc, { timeout: attemptMs })).create(name, {
        replicas: opts.replicas,
        history: 1,
        storage: StorageType.File,
        allow_direct: false,
        timeout: attemptMs,
      });
      break;
    } catch (err) {
      // A concurrent creator's stream (10065, see createdConcurrently) is the bucket: the next attempt opens it.
      const again =
        err instanceof TimeoutError ||
        (await createdConcurrently(await jetstreamManager(nc, { timeout: attemptMs }), `KV_${name}`, err));
      if (!again || performance.now() + attemptMs > deadline) throw err;
    }
    await backoff.pause();
  }
  // The handles the leases work through carry the short per-request timeout (reads go through them too).
  const js = jetstream(nc, { timeout: requestTimeoutMs });
  const kv = await new Kvm(js).open(name, { allow_direct: false });
  const jsm = await jetstreamManager(nc, { timeout: requestTimeoutMs, checkAPI: false });
  return { name, kv, js, jsm, requestTimeoutMs };
}

export interface PartitionLeasesOptions {
  /** This worker's id: unique per process incarnation (a restarted worker is a new contender). */
  worker: string;
  /** Lease length, ms. */
  ttlMs: number;
  /** How far another host's wall clock may be off ours, ms (default 1000); delays takeovers by as much. */
  maxClockSkewMs?: number;
  /** Wall clock, ms since the epoch (a test injects skew here). */
  now?: () => number;
}

/** True for JetStream's answer to a compare-and-set whose expected (key or stream) sequence is not the last. */
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

/** One attempt at creating or looking up the bucket, ms (an R3 stream's first election takes about 1 s here). */
const CREATE_ATTEMPT_MS = 3000;
/** Back-off after a transport error (a failover): the server needs time, ms. */
/** How long past a TTL an operation may hold its partition's queue before the next one goes ahead (ms). */
const QUEUE_STALL_MS = 10_000;
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 500;
/** Back-off after losing the stream's last sequence to another partition's write: only contention, ms. */
const CONTENDED_MIN_MS = 5;

/** The key as read, with the stream's last sequence at a moment when the key was at that revision. */
interface Snapshot {
  /** Stream last sequence L, read before the key; the key's revision is <= L. */
  last: number;
  /** The key's last revision, PUT or not; 0 when it was never written. */
  revision: number;
  /** The lease in it; null when the key is absent, deleted or purged. */
  value: LeaseValue | null;
}

/** Jittered exponential back-off between retries of one write; the caller's deadline bounds the loop. */
class Backoff {
  #pauseMs: number;
  readonly #maxMs: number;
  constructor(minMs: number, maxMs: number) {
    this.#pauseMs = minMs;
    this.#maxMs = maxMs;
  }
  async pause(): Promise<void> {
    // Half fixed, half random: racing writers that all lost to one write should not all come back together.
    const ms = this.#pauseMs / 2 + Math.random() * (this.#pauseMs / 2);
    this.#pauseMs = Math.min(this.#maxMs, this.#pauseMs * 2);
    await new Promise((r) => setTimeout(r, ms));
  }
}

/** One worker's leases over the partitions of one bucket. */
export class PartitionLeases {
  readonly #bucket: LeaseBucket;
  readonly #stream: string;
  readonly #worker: string;
  readonly #ttlMs: number;
  readonly #skewMs: number;
  readonly #now: () => number;
  /** The newest lease this worker holds per partition. */
  readonly #held = new Map<number, Lease>();
  /** A write whose outcome is unknown (its reply was lost), per partition. */
  readonly #pending = new Map<number, { value: LeaseValue; sentAt: number }>();
  readonly #queues = new Map<number, Promise<unknown>>();

  constructor(bucket: LeaseBucket, opts: PartitionLeasesOptions) {
    if (!(opts.ttlMs > 0)) throw new RangeError('ttlMs must be > 0');
    this.#bucket = bucket;
    this.#stream = `KV_${bucket.name}`;
    this.#worker = opts.worker;
    this.#ttlMs = opts.ttlMs;
    this.#skewMs = opts.maxClockSkewMs ?? 1000;
    if (!(this.#skewMs >= 0)) throw new RangeError('maxClockSkewMs must be >= 0');
    this.#now = opts.now ?? Date.now;
  }

  get worker(): string {
    return this.#worker;
  }

  /** The lease key's current value and revision, read through the stream leader; null when absent. */
  async read(partition: number): Promise<{ value: LeaseValue; revision: number } | null> {
    const s = await this.#readKey(partition);
    return s.value === null ? null : { value: s.value, revision: s.revision };
  }

  /** True when `value` may be taken over now, judged by this worker's wall clock less the skew allowance. */
  expired(value: LeaseValue): boolean {
    return this.#now() > value.expires_ms + this.#skewMs;
  }

  /**
   * Takes partition `n` when it is free or its lease has expired; null when another worker holds it or won
   * the race (or other partitions' writes kept beating ours for half a TTL). Transport errors are thrown (the
   * outcome is then unknown; a later call resolves it).
   */
  acquire(partition: number): Promise<Lease | null> {
    return this.#serial(partition, async () => {
      let cur = await this.#snapshot(partition);
      const pending = this.#pending.get(partition);
      if (cur.value !== null && pending !== undefined && cur.value.write_id === pending.value.write_id) {
        // An earlier acquire whose reply was lost did land.
        this.#pending.delete(partition);
        return this.#hold(partition, cur.revision, cur.revision, pending.value, pending.sentAt);
      }
      const held = this.#held.get(partition);
      if (cur.value !== null && held !== undefined && cur.revision === held.token) return held;
      if (cur.value !== null && !this.expired(cur.value)) return null;
      const expected = cur.revision;
      const value = this.#value(cur.value?.commit, this.#now() + this.#ttlMs);
      const sentAt = performance.now();
      const backoff = new Backoff(CONTENDED_MIN_MS, RETRY_MAX_MS);
      for (;;) {
        try {
          const rev = await this.#publish(partition, value, expected, cur.last);
          this.#pending.delete(partition);
          return this.#hold(partition, rev, rev, value, sentAt);
        } catch (err) {
          if (!isWrongLastSequence(err)) {
            this.#pending.set(partition, { value, sentAt });
            throw err;
          }
        }
        // Refused: by the key (another contender won) or only by the stream (another partition was written).
        this.#pending.delete(partition);
        if (performance.now() - sentAt > this.#ttlMs / 2) return null;
        await backoff.pause();
        cur = await this.#snapshot(partition);
        if (cur.revision !== expected) return null;
      }
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
   * Compare-and-set of the lease key from `held.token`. Each attempt reads the stream's last sequence and
   * the key first: the key holding this write's `write_id` means an earlier attempt landed (its reply was
   * lost), any other revision than the token means the lease is lost. Retries transport errors (a leader
   * failover) and refusals caused only by other partitions' writes, until the lease's local deadline.
   */
  async #write(held: Lease, commit: string | undefined, expiresMs: number): Promise<Lease> {
    const value = this.#value(commit, expiresMs);
    const sentAt = performance.now();
    const afterFailure = new Backoff(RETRY_MIN_MS, RETRY_MAX_MS);
    const afterContention = new Backoff(CONTENDED_MIN_MS, RETRY_MAX_MS);
    let failure: unknown;
    for (;;) {
      let contended: boolean;
      try {
        const cur = await this.#snapshot(held.partition);
        if (cur.value !== null && cur.value.write_id === value.write_id)
          return this.#hold(held.partition, cur.revision, held.epoch, value, sentAt);
        if (cur.revision !== held.token) {
          this.#held.delete(held.partition);
          throw new LeaseLostError(
            held.partition,
            held.token,
            cur.value === null
              ? 'the key is gone'
              : `taken over: the key is at revision ${cur.revision} (${cur.value.worker})`,
            { cause: failure },
          );
        }
        const rev = await this.#publish(held.partition, value, held.token, cur.last);
        return this.#hold(held.partition, rev, held.epoch, value, sentAt);
      } catch (err) {
        if (err instanceof LeaseLostError) throw err;
        // A refusal: the next snapshot tells whether the key moved (lost) or only the stream (retry).
        contended = isWrongLastSequence(err);
        failure = err;
      }
      if (performance.now() >= held.validUntil) {
        this.#held.delete(held.partition);
        throw new LeaseLostError(held.partition, held.token, 'it could not be confirmed before it expired', {
          cause: failure,
        });
      }
      await (contended ? afterContention : afterFailure).pause();
    }
  }

  /**
   * The stream's last sequence L, then the key at a revision <= L (read again when a write came in between).
   * L is never 0 (some server versions ignore an expected last sequence of 0): an empty bucket gets its marker.
   */
  async #snapshot(partition: number): Promise<Snapshot> {
    for (;;) {
      const info = await this.#bucket.jsm.streams.info(this.#stream);
      const last = info.state.last_seq;
      if (last === 0) {
        await this.#bucket.kv.put(MARKER_KEY, 'the stream-wide compare-and-set needs a last sequence > 0');
        continue;
      }
      const key = await this.#readKey(partition);
      if (key.revision <= last) return { last, ...key };
      // The key was written after L was read: L does not describe this key state, so read both again.
    }
  }

  async #readKey(partition: number): Promise<{ revision: number; value: LeaseValue | null }> {
    const e = await this.#bucket.kv.get(leaseKey(partition));
    if (e === null) return { revision: 0, value: null };
    if (e.operation !== 'PUT') return { revision: e.revision, value: null };
    const parsed = leaseValueSchema.safeParse(e.json());
    if (!parsed.success)
      throw new HrvaultError('HRV_ERR_CONTRACT', `lease key ${leaseKey(partition)} holds a malformed value`, {
        cause: parsed.error,
      });
    return { revision: e.revision, value: parsed.data };
  }

  /**
   * Publishes `value` to the key only if the key's last revision is `keyRevision` (0: never written) and the
   * stream's last sequence is `streamLast`; resolves with the new revision, rejects with a JetStreamApiError
   * (isWrongLastSequence) when either expectation fails.
   */
  async #publish(
    partition: number,
    value: LeaseValue,
    keyRevision: number,
    streamLast: number,
  ): Promise<number> {
    const ack = await this.#bucket.js.publish(
      `$KV.${this.#bucket.name}.${leaseKey(partition)}`,
      JSON.stringify(value),
      {
        timeout: this.#bucket.requestTimeoutMs,
        expect: { lastSubjectSequence: keyRevision, lastSequence: streamLast },
      },
    );
    if (ack.stream !== this.#stream)
      throw new HrvaultError(
        'HRV_ERR_CONTRACT',
        `lease write was stored by stream ${ack.stream}, not ${this.#stream}`,
      );
    return ack.seq;
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
    // Every step of an operation is bounded, but should one never settle (a reply lost in a way no timeout saw),
    // the partition's queue must not stall behind it for ever: past a TTL and some, the next operation goes ahead.
    // Safe: every write is a compare-and-set the server decides, whatever this process believes.
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#ttlMs + QUEUE_STALL_MS);
      timer.unref();
    });
    const ahead = Promise.race([prev, stalled]).finally(() => clearTimeout(timer));
    const run = ahead.then(fn, fn);
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
