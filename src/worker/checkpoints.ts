/**
 * A partition's committed state, as the untrusted worker host keeps it: sealed pieces (one snapshot, then
 * deltas) in a JetStream object store, and a **chain** naming which pieces make the committed state.
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
import type { ObjectStore } from '@nats-io/obj';
import { z } from 'zod';
import { HrvaultError } from '../errors.js';

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

/** The object name of a piece: `p<partition>/<id>`. */
export function pieceName(partition: number, id: string): string {
  return `p${partition}/${id}`;
}

/** Sealed checkpoint pieces of every partition, in one object store bucket. */
export class CheckpointStore {
  readonly #os: ObjectStore;

  constructor(os: ObjectStore) {
    this.#os = os;
  }

  /** Stores a piece under its fresh name; it is only a candidate until a chain names it. */
  async put(partition: number, piece: CheckpointPiece): Promise<void> {
    await this.#os.putBlob({ name: pieceName(partition, piece.id) }, piece.bytes);
  }

  /** Reads the pieces `chain` names; a missing piece is an error (the committed state must be whole). */
  async read(partition: number, chain: Chain | undefined): Promise<PartitionChain> {
    if (chain === undefined) return { deltas: [] };
    const get = async (id: string): Promise<{ id: string; bytes: Uint8Array }> => {
      const bytes = await this.#os.getBlob(pieceName(partition, id));
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

  /**
   * Deletes the pieces of `old`, a chain that a newer snapshot replaced in a commit of ours. Safe even if we
   * have lost the lease since: every later chain starts from that commit's snapshot or a later one.
   */
  async drop(partition: number, old: Chain): Promise<void> {
    for (const id of [old.s, ...old.d]) await this.#os.delete(pieceName(partition, id));
  }

  /**
   * Deletes candidates of `partition` that `current` (the chain read from the lease key just before) does not
   * name and that are older than `minAgeMs`: pieces of owners that lost the lease before committing them. The
   * age guard keeps the candidate of an owner whose commit is still under way (a commit lands within a lease
   * TTL of its piece, so twice the TTL is enough), should this caller itself no longer be the owner.
   */
  async sweep(partition: number, current: Chain | undefined, minAgeMs: number): Promise<number> {
    const named = new Set(
      current === undefined ? [] : [current.s, ...current.d].map((id) => pieceName(partition, id)),
    );
    const prefix = `p${partition}/`;
    const cutoff = Date.now() - minAgeMs;
    let n = 0;
    for (const info of await this.#os.list()) {
      if (!info.name.startsWith(prefix) || named.has(info.name) || Date.parse(info.mtime) > cutoff) continue;
      await this.#os.delete(info.name);
      n++;
    }
    return n;
  }
}
