/**
 * A partition's committed state, as the untrusted worker host keeps it: sealed pieces (one snapshot, then
 * deltas) in a JetStream stream, and a **chain** naming which pieces make the committed state.
 *
 * **Storage.** Each piece is cut into chunks of at most 256 KiB (below NATS's 1 MiB message limit), chunk i of
 * piece `id` of partition p on its own subject `<prefix>.state.<p>.<id>.<i>`; the first chunk's headers give the
 * count and total size. A piece is read by one direct "last message on subject" request per chunk, answered by the
 * stream's leader, and removed by one purge of `<prefix>.state.<p>.<id>.>`. Not JetStream's object store, which this
 * replaced: its reads and listings each create a consumer, and on a three-node 2.9.10 cluster on two loaded cores the
 * dozens of consumers a partition takeover created at once (one per piece) were followed by minutes in which lease
 * writes and pulls timed out (the fault suite's step d).
 *
 * The chain is what the partition's lease key carries as its `commit` (lease.ts): a piece is written here first,
 * under a fresh random name, and becomes part of the state only when the owner's fenced compare-and-set of the
 * lease key names it in the new chain. A piece written by a worker that then lost its lease (a zombie) is never
 * named and is deleted by a later owner's sweep; it cannot overwrite a committed piece, since names are never
 * reused. The enclave binds each piece to its partition, snapshot and position when it seals it, so a host (or a
 * server) that hands back another partition's piece, or reorders a chain, is refused there.
 *
 * What this does not stop: a server that hands back an *older* chain (with its pieces) rolls the partition back;
 * no party here holds a monotonic counter the enclave could check (docs/decisions.md).
 */
import {
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type StoredMsg,
} from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { z } from 'zod';
import { HrvaultError } from '../errors.js';
import { ensureStream, subjects, subjectsUnder } from '../jetstream/index.js';

const pieceId = z.string().regex(/^[0-9a-f]{16}$/, 'piece id must be 16 hex digits');

/** The committed chain: a snapshot's id and the ids of the deltas after it, in order. */
export const chainSchema = z.strictObject({ s: pieceId, d: z.array(pieceId).max(200) });
export type Chain = z.infer<typeof chainSchema>;

/** One sealed piece as the enclave handed it over. */
export type CheckpointPiece =
  | { kind: 'snapshot'; id: string; bytes: Uint8Array }
  | { kind: 'delta'; id: string; snapshot: string; index: number; bytes: Uint8Array };

/** What the enclave needs to open a partition: the snapshot and the deltas after it. */
export interface PartitionChain {
  snapshot?: { id: string; bytes: Uint8Array };
  deltas: { id: string; bytes: Uint8Array }[];
}

/** Parses a lease's `commit` into a chain; undefined (a partition never committed) gives undefined. */
export function parseChain(commit: string | undefined): Chain | undefined {
  if (commit === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(commit);
  } catch (err) {
    throw new HrvaultError('HRV_ERR_CONTRACT', 'partition chain is not JSON', { cause: err });
  }
  const r = chainSchema.safeParse(raw);
  if (!r.success)
    throw new HrvaultError(
      'HRV_ERR_CONTRACT',
      `partition chain: ${r.error.issues[0]?.message ?? 'invalid'}`,
      { cause: r.error },
    );
  return r.data;
}

/** The chain after `piece` is committed on top of `chain` (a snapshot starts a new chain). */
export function extendChain(chain: Chain | undefined, piece: CheckpointPiece): Chain {
  if (piece.kind === 'snapshot') return { s: piece.id, d: [] };
  if (chain === undefined || chain.s !== piece.snapshot || chain.d.length !== piece.index)
    throw new HrvaultError(
      'HRV_ERR_CONTRACT',
      `delta ${piece.id} (snapshot ${piece.snapshot}, index ${piece.index}) does not continue the committed chain`,
    );
  return { s: chain.s, d: [...chain.d, piece.id] };
}

/** Largest chunk of a piece (bytes): well below NATS's default 1 MiB message limit. */
export const CHUNK_BYTES = 256 * 1024;
const H_CHUNKS = 'Hrv-Chunks';
const H_BYTES = 'Hrv-Bytes';
/** JetStream API error: no message on that subject. */
const NO_MESSAGE = 10037;

/** The stream of the pieces of deployment `prefix`. */
export function stateStreamName(prefix: string): string {
  return subjects(prefix).stateStream;
}

/**
 * Creates the pieces' stream (file storage, `replicas`, no limits: state leaves only by an owner's purge), or
 * brings an existing one to these settings; idempotent.
 */
export async function ensureStateStream(
  jsm: JetStreamManager,
  o: { prefix: string; replicas: number },
): Promise<void> {
  await ensureStream(
    jsm,
    {
      name: stateStreamName(o.prefix),
      subjects: [`${o.prefix}.state.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: o.replicas,
      discard: DiscardPolicy.New,
      max_msg_size: CHUNK_BYTES + 1024,
    },
    'the partition state',
  );
}

/** Sealed checkpoint pieces of every partition of one deployment, in one stream. */
export class CheckpointStore {
  readonly #jsm: JetStreamManager;
  readonly #js: JetStreamClient;
  readonly #prefix: string;
  readonly #stream: string;
  readonly #timeoutMs: number;

  constructor(jsm: JetStreamManager, js: JetStreamClient, prefix: string, timeoutMs = 5000) {
    this.#jsm = jsm;
    this.#js = js;
    this.#prefix = prefix;
    this.#stream = stateStreamName(prefix);
    this.#timeoutMs = timeoutMs;
  }

  #subject(partition: number, id: string, chunk: number | '>'): string {
    pieceId.parse(id);
    return `${this.#prefix}.state.${partition}.${id}.${chunk}`;
  }

  /** Stores a piece under its fresh id; it is only a candidate until a chain names it. */
  async put(partition: number, piece: CheckpointPiece): Promise<void> {
    const n = Math.max(1, Math.ceil(piece.bytes.length / CHUNK_BYTES));
    for (let i = 0; i < n; i++) {
      const h = natsHeaders();
      h.set(H_CHUNKS, String(n));
      h.set(H_BYTES, String(piece.bytes.length));
      await this.#js.publish(
        this.#subject(partition, piece.id, i),
        piece.bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES),
        {
          headers: h,
          timeout: this.#timeoutMs,
          expect: { streamName: this.#stream },
        },
      );
    }
  }

  /** The stored message on `subject`, or null when there is none. */
  async #last(subject: string): Promise<StoredMsg | null> {
    try {
      return await this.#jsm.streams.getMessage(this.#stream, { last_by_subj: subject });
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === NO_MESSAGE) return null;
      throw err;
    }
  }

  /** One piece's bytes, or null when its first chunk is absent; a piece with a chunk missing or of the wrong size is an error. */
  async #readPiece(partition: number, id: string): Promise<Uint8Array | null> {
    const first = await this.#last(this.#subject(partition, id, 0));
    if (first === null) return null;
    const n = Number(first.header.get(H_CHUNKS));
    const total = Number(first.header.get(H_BYTES));
    if (
      !Number.isSafeInteger(n) ||
      n < 1 ||
      !Number.isSafeInteger(total) ||
      total < 0 ||
      total > n * CHUNK_BYTES
    )
      throw new HrvaultError(
        'HRV_ERR_CONTRACT',
        `partition ${partition}: piece ${id} has malformed chunk headers`,
      );
    const rest = await Promise.all(
      Array.from({ length: n - 1 }, (_, i) => this.#last(this.#subject(partition, id, i + 1))),
    );
    const out = new Uint8Array(total);
    let at = 0;
    for (const [i, m] of [first, ...rest].entries()) {
      if (m === null)
        throw new HrvaultError(
          'HRV_ERR_SEALING',
          `partition ${partition}: chunk ${i} of piece ${id} is missing from the state stream`,
        );
      if (at + m.data.length > total)
        throw new HrvaultError(
          'HRV_ERR_CONTRACT',
          `partition ${partition}: piece ${id} is longer than its header says`,
        );
      out.set(m.data, at);
      at += m.data.length;
    }
    if (at !== total)
      throw new HrvaultError(
        'HRV_ERR_CONTRACT',
        `partition ${partition}: piece ${id} is shorter than its header says`,
      );
    return out;
  }

  /** Reads the pieces `chain` names; a missing piece is an error (the committed state must be whole). */
  async read(partition: number, chain: Chain | undefined): Promise<PartitionChain> {
    if (chain === undefined) return { deltas: [] };
    const get = async (id: string): Promise<{ id: string; bytes: Uint8Array }> => {
      const bytes = await this.#readPiece(partition, id);
      if (bytes === null)
        throw new HrvaultError(
          'HRV_ERR_SEALING',
          `partition ${partition}: committed piece ${id} is missing from the state store`,
        );
      return { id, bytes };
    };
    const [snapshot, ...deltas] = await Promise.all([get(chain.s), ...chain.d.map(get)]);
    return { snapshot: snapshot!, deltas };
  }

  /** Deletes one piece (every chunk). */
  async #purge(partition: number, id: string): Promise<void> {
    await this.#jsm.streams.purge(this.#stream, { filter: this.#subject(partition, id, '>') });
  }

  /**
   * Deletes the pieces of `old`, a chain that a newer snapshot replaced in a commit of ours. Safe even if we
   * have lost the lease since: every later chain starts from that commit's snapshot or a later one.
   */
  async drop(partition: number, old: Chain): Promise<void> {
    for (const id of [old.s, ...old.d]) await this.#purge(partition, id);
  }

  /** The ids of the pieces of `partition` in the stream (one stream-info request, subjects filtered). */
  async pieceIds(partition: number): Promise<string[]> {
    const chunks = await subjectsUnder(this.#jsm, this.#stream, `${this.#prefix}.state.${partition}.`);
    return [...new Set(chunks.map((s) => s.split('.')[0]!))];
  }

  /**
   * Deletes candidates of `partition` that `current` (the chain read from the lease key just before) does not
   * name and that are older than `minAgeMs`: pieces of owners that lost the lease before committing them. The
   * age guard keeps the candidate of an owner whose commit is still under way (a commit lands within a lease
   * TTL of its piece, so twice the TTL is enough), should this caller itself no longer be the owner.
   */
  async sweep(partition: number, current: Chain | undefined, minAgeMs: number): Promise<number> {
    const named = new Set(current === undefined ? [] : [current.s, ...current.d]);
    const cutoff = Date.now() - minAgeMs;
    let n = 0;
    for (const id of await this.pieceIds(partition)) {
      if (named.has(id)) continue;
      const first = await this.#last(this.#subject(partition, id, 0));
      if (first !== null && first.time.getTime() > cutoff) continue;
      await this.#purge(partition, id);
      n++;
    }
    return n;
  }
}
