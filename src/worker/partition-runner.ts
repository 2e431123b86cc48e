/**
 * One partition on one worker, for as long as the worker holds its lease: pull a micro-batch of work, let the
 * enclave analyse it, commit the sealed state, publish the results, acknowledge the work.
 *
 * Commit points, in order (docs/pipeline.md, "JetStream mode"):
 * - **W1, state committed**: the enclave's sealed piece is stored under a fresh name, then one fenced
 *   compare-and-set of the lease key names it in the partition's chain. Before W1 nothing of the micro-batch
 *   exists anywhere but in the enclave's memory, which a crash or a lost lease throws away (the partition is
 *   re-opened from the committed chain); the work messages are redelivered and analysed again. A worker that
 *   lost its lease fails here and never reaches W2.
 * - **W2, results published**: every result and refusal is published with message id = its name; a worker that
 *   dies after W1 and before W3 leaves its work unacknowledged, the next owner opens the committed chain, in
 *   which those files are accepted with their sealed results held, and answers the redelivered files with the
 *   same bytes, which the results stream's duplicate window drops (past it, the host writes the same bytes again,
 *   which a gateway already accepts).
 * - **W3, work acknowledged**: only after W2's publishes are acknowledged by the stream; the enclave is told the
 *   results are durable with the next micro-batch, and stops holding their bytes in its state.
 */
import type { JsMsg } from '@nats-io/jetstream';
import { HrvaultError, type ErrorCode } from '../errors.js';
import { failpoint } from '../failpoints/index.js';
import { LeaseLostError, readWorkHeaders, type Lease, type PartitionLeases } from '../jetstream/index.js';
import {
  extendChain,
  parseChain,
  type CheckpointStore,
  type PartitionChain,
  type CheckpointPiece,
  type Chain,
} from './checkpoints.js';

/** One file for the enclave, as the enclave client takes it. */
export interface PartitionFile {
  name: string;
  bytes: Uint8Array;
  release?: boolean;
}

/** A result or refusal the enclave made; shapes as in src/enclave (BatchOutcome). */
export interface PartitionOutcome {
  results: {
    name: string;
    bytes: Uint8Array;
    gateway: string;
    patient: string;
    seq: number;
    input: string;
    duplicate: boolean;
  }[];
  duplicates: { input: string; gateway: string; result: string }[];
  deferred: string[];
  rejected: { name: string; code: ErrorCode; reason: string }[];
  checkpoint?: CheckpointPiece;
}

/** What the runner needs of the enclave (the enclave client in cluster mode). */
export interface PartitionEnclave {
  openPartition(partition: number, chain: PartitionChain): Promise<unknown>;
  processPartition(
    partition: number,
    files: PartitionFile[],
    written: { gateway: string; patient: string; seq: number }[],
  ): Promise<PartitionOutcome>;
  closePartition(partition: number): Promise<unknown>;
}

/** Where results and refusals go (the results stream). Each call resolves once the stream stored it. */
export interface ResultSink {
  result(r: {
    gateway: string;
    result: string;
    patient: string;
    seq: number;
    token: number;
    bytes: Uint8Array;
  }): Promise<void>;
  refusal(r: {
    gateway: string;
    file: string;
    code: ErrorCode;
    reason: string;
    token: number;
  }): Promise<void>;
}

/** Pulls the partition's work (its durable consumer). */
export interface WorkSource {
  /** Up to `max` messages, waiting at most `expiresMs` for the first ones. */
  fetch(max: number, expiresMs: number): Promise<JsMsg[]>;
}

export interface PartitionRunnerOptions {
  partition: number;
  leases: PartitionLeases;
  lease: Lease;
  store: CheckpointStore;
  enclave: PartitionEnclave;
  work: WorkSource;
  sink: ResultSink;
  /** Most messages per micro-batch. */
  maxBatch: number;
  /** How long one fetch waits for work (ms): the micro-batch interval under light load. */
  fetchMs: number;
  /** How long a file may wait for a missing predecessor before it is analysed with the gap flagged (ms). */
  reorderHoldMs: number;
  /** Candidates older than this are swept at start (ms): twice the lease TTL. */
  sweepAgeMs: number;
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/** Counters of one runner (files, not data: the worker host may report them). */
export interface RunnerStats {
  batches: number;
  files: number;
  results: number;
  refusals: number;
  deferred: number;
  /** Work messages whose headers were invalid: terminated, never handed to the enclave. */
  malformed: number;
  commits: number;
}

/** All counters at zero. */
export function emptyRunnerStats(): RunnerStats {
  return { batches: 0, files: 0, results: 0, refusals: 0, deferred: 0, malformed: 0, commits: 0 };
}

/** Why a runner stopped. */
export type RunnerEnd =
  { kind: 'stopped' } | { kind: 'lost'; error: LeaseLostError } | { kind: 'failed'; error: unknown };

/** Runs one partition until `stop()` or until its lease is lost; `done` says how it ended. */
export class PartitionRunner {
  readonly partition: number;
  readonly stats: RunnerStats = emptyRunnerStats();
  readonly done: Promise<RunnerEnd>;
  readonly #o: PartitionRunnerOptions;
  #lease: Lease;
  #chain: Chain | undefined;
  #stopping = false;
  #lost: LeaseLostError | undefined;
  /** Resolves when the lease is lost: a micro-batch in progress is abandoned then, whatever it waits for. */
  readonly #lostSignal: Promise<void>;
  #signalLost!: () => void;
  /** Results published in the last micro-batch: the enclave learns they are durable with the next one. */
  #written: { gateway: string; patient: string; seq: number }[] = [];
  #renewTimer: NodeJS.Timeout | undefined;

  constructor(o: PartitionRunnerOptions) {
    this.#o = o;
    this.partition = o.partition;
    this.#lease = o.lease;
    this.#lostSignal = new Promise<void>((resolve) => (this.#signalLost = resolve));
    this.done = this.#run();
  }

  /** The lease as of the last write (its token fences the results). */
  get lease(): Lease {
    return this.#lease;
  }

  /** Asks the runner to finish its micro-batch, close the partition and give the lease up. */
  stop(): Promise<RunnerEnd> {
    this.#stopping = true;
    return this.done;
  }

  async #run(): Promise<RunnerEnd> {
    const { partition, enclave, leases, log } = this.#o;
    let end: RunnerEnd = { kind: 'stopped' };
    let opened = false;
    try {
      this.#chain = parseChain(this.#lease.commit);
      await this.#o.store
        .sweep(partition, this.#chain, this.#o.sweepAgeMs)
        .catch((err: unknown) => log('warn', 'state sweep failed', { partition, error: String(err) }));
      await enclave.openPartition(partition, await this.#o.store.read(partition, this.#chain));
      opened = true;
      this.#startRenewing();
      // A lost lease ends the loop at once, even in the middle of a micro-batch stuck on a pull or a request: that
      // batch can no longer commit (its compare-and-set would fail), so nothing is gained by waiting for it, and a
      // runner that outlives its lease would keep its partition away from this worker's next acquisition.
      while (!this.#stopping && this.#lost === undefined) {
        const step = this.#step();
        step.catch(() => undefined);
        await Promise.race([step, this.#lostSignal]);
      }
      if (this.#lost) end = { kind: 'lost', error: this.#lost };
    } catch (err) {
      end = err instanceof LeaseLostError ? { kind: 'lost', error: err } : { kind: 'failed', error: err };
    } finally {
      clearInterval(this.#renewTimer);
      if (opened) await enclave.closePartition(partition).catch(() => undefined);
    }
    if (end.kind === 'stopped')
      await leases
        .release(this.#lease)
        .catch((err: unknown) => log('warn', 'lease release failed', { partition, error: String(err) }));
    if (end.kind !== 'stopped')
      log(end.kind === 'lost' ? 'warn' : 'error', `partition ${end.kind}`, {
        partition,
        error: end.error instanceof Error ? end.error.message : String(end.error),
      });
    return end;
  }

  /** Records the loss of the lease (once, logged) and abandons the micro-batch in progress. */
  #loseLease(err: LeaseLostError): void {
    if (this.#lost) return;
    this.#lost = err;
    this.#o.log('warn', 'lease lost', { partition: this.partition, token: err.token, error: err.message });
    this.#signalLost();
  }

  /** Renews the lease a few times per TTL between commits (a commit renews it too). */
  #startRenewing(): void {
    const ttl = Math.max(1, this.#lease.expiresMs - Date.now());
    this.#renewTimer = setInterval(
      () => {
        this.#o.leases.renew(this.#lease).then(
          (l) => {
            if (l.epoch === this.#lease.epoch && l.token > this.#lease.token) this.#lease = l;
          },
          (err: unknown) => {
            if (err instanceof LeaseLostError) this.#loseLease(err);
            else
              this.#o.log('warn', 'lease renewal failed; retried', {
                partition: this.partition,
                error: String(err),
              });
          },
        );
      },
      Math.max(100, Math.floor(ttl / 3)),
    );
    this.#renewTimer.unref();
  }

  async #step(): Promise<void> {
    const o = this.#o;
    const msgs = await o.work.fetch(o.maxBatch, o.fetchMs);
    if (msgs.length === 0 || this.#lost) {
      for (const m of msgs) m.nak();
      return;
    }
    const byName = new Map<string, JsMsg[]>();
    const files: PartitionFile[] = [];
    const now = Date.now();
    for (const m of msgs) {
      let name: string;
      try {
        const h = readWorkHeaders(m.headers);
        name = `${h.gateway}/${h.file}`;
      } catch (err) {
        // Not from a host of ours (or damaged): no enclave call can help, and redelivery would repeat it for ever.
        this.stats.malformed++;
        o.log('error', 'work message refused', {
          partition: this.partition,
          seq: m.seq,
          error: err instanceof Error ? err.message : String(err),
        });
        m.term();
        continue;
      }
      const same = byName.get(name);
      if (same) same.push(m);
      else {
        byName.set(name, [m]);
        files.push({ name, bytes: m.data, release: now - m.info.timestampNanos / 1e6 >= o.reorderHoldMs });
      }
    }
    if (files.length === 0) return;
    const written = this.#written;
    let out: PartitionOutcome;
    try {
      out = await o.enclave.processPartition(this.partition, files, written);
    } catch (err) {
      // The enclave lost the partition's memory (it crashed, or refused): redeliver, and start over from the commit.
      for (const ms of byName.values()) for (const m of ms) m.nak();
      throw err;
    }
    this.#written = [];
    this.stats.batches++;
    this.stats.files += files.length;

    // W1: the sealed piece, then the fenced pointer to it.
    if (out.checkpoint) {
      const piece = out.checkpoint;
      const next = extendChain(this.#chain, piece);
      try {
        await o.store.put(this.partition, piece);
        const { lease } = await o.leases.fencedCommit(this.#lease, () =>
          Promise.resolve({ commit: JSON.stringify(next), result: undefined }),
        );
        this.#lease = lease;
      } catch (err) {
        for (const ms of byName.values()) for (const m of ms) m.nak();
        throw err;
      }
      const old = this.#chain;
      this.#chain = next;
      this.stats.commits++;
      if (piece.kind === 'snapshot' && old !== undefined)
        o.store
          .drop(this.partition, old)
          .catch((err: unknown) =>
            o.log('warn', 'old state pieces not deleted', { partition: this.partition, error: String(err) }),
          );
    }
    failpoint('worker.after-commit');
    const token = this.#lease.token;

    // W2: results and refusals, stored by the stream before any work is acknowledged.
    const published: Promise<void>[] = [];
    for (const r of out.results)
      published.push(
        o.sink.result({
          gateway: r.gateway,
          result: r.name,
          patient: r.patient,
          seq: r.seq,
          token,
          bytes: r.bytes,
        }),
      );
    for (const r of out.rejected) {
      const [gateway, file] = splitName(r.name);
      published.push(o.sink.refusal({ gateway, file, code: r.code, reason: r.reason, token }));
    }
    try {
      await Promise.all(published);
    } catch (err) {
      // Committed but not published: redelivered, the files are duplicates and their held results go out again.
      for (const ms of byName.values()) for (const m of ms) m.nak();
      o.log('warn', 'results not published; the micro-batch is redelivered', {
        partition: this.partition,
        error: String(err),
      });
      return;
    }
    failpoint('worker.after-publish');
    this.stats.results += out.results.length;
    this.stats.refusals += out.rejected.length;
    this.#written = out.results.map((r) => ({ gateway: r.gateway, patient: r.patient, seq: r.seq }));

    // W3: acknowledge the work; files waiting for a predecessor come back after a short delay.
    const deferred = new Set(out.deferred);
    this.stats.deferred += deferred.size;
    for (const [name, ms] of byName) {
      for (const m of ms) {
        if (deferred.has(name)) m.nak(Math.min(o.fetchMs, o.reorderHoldMs));
        else m.ack();
      }
    }
  }
}

/** `<gateway>/<file>` back into its parts. */
function splitName(name: string): [string, string] {
  const i = name.indexOf('/');
  if (i <= 0)
    throw new HrvaultError('HRV_ERR_CONTRACT', `enclave answered for an unknown file name '${name}'`);
  return [name.slice(0, i), name.slice(i + 1)];
}
