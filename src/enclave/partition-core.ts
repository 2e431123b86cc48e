/**
 * The enclave in cluster mode (JetStream workers): the same trusted logic as EnclaveCore, but its patients' state is
 * held per partition, and instead of writing that state to its own disk it hands the host sealed checkpoint pieces,
 * which the host stores in JetStream and hands back to whichever worker owns the partition next.
 *
 * A partition's committed state is a chain: a snapshot piece and the delta pieces after it, in order. Each piece is
 * sealed under the cluster's state secret (cluster-secrets.ts) with a purpose naming the partition count, the
 * partition, the snapshot and (for a delta) its index and its own id: a piece of another partition, another chain or
 * another position does not open (HRV_ERR_SEALING). What the host can still do is hand back an older chain (a
 * rollback), as it can in the embedded mode; every piece is numbered (1, 2, … per partition) and every result names
 * its partition, number and piece, so a gateway sees a number repeated under another piece (hrv-result.ts).
 *
 * **The host commits or closes.** `processPartition` moves the partition's state in enclave memory ahead of what the
 * host has stored: the checkpoint piece it returns is that step. The host must store it (after the pieces before it)
 * before it releases the results, or, when it cannot (its store failed, its lease was lost), `closePartition` and
 * re-open from the chain it did store; otherwise the next piece would follow one the chain never got. A partition
 * the enclave has not opened is refused (HRV_ERR_PARTITION): a worker that restarted re-opens its partitions first.
 *
 * A file is processed only in its patient's partition (`partitionOf(gateway/patient)`, HRV_ERR_PARTITION otherwise),
 * so a host cannot bring a patient into a partition it opened from a chain of its choosing and fork its state.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { partitionsSchema } from '../contracts/index.js';
import { createQuote, partitionOf, type EnvelopeHeader, type Quote } from '../crypto/index.js';
import { HrvaultError } from '../errors.js';
import { HrvAnalyser } from './analysis.js';
import {
  createClusterSecrets,
  decodeClusterSecrets,
  loadClusterSecrets,
  sameClusterSecrets,
  saveClusterSecrets,
  type ClusterSecrets,
} from './cluster-secrets.js';
import {
  runBatchFiles,
  snapshotBytes,
  type BatchFile,
  type BatchOutcome,
  type EnrolledGateway,
  type FileOpeners,
  type ResultAck,
} from './core.js';
import { EpochCache } from './epoch-cache.js';
import { KeyRing, NO_ROTATION } from './keyring.js';
import { loadSealingSecret, SealingError, unseal } from './sealing.js';
import { sealPadded, unpad } from './state-store.js';

/**
 * Delta pieces after a snapshot before the next checkpoint is a whole snapshot again. It bounds what a take-over
 * replays (32 deltas) and what the host keeps per partition (33 pieces). A snapshot is padded to ~28 KiB per patient
 * of the partition (snapshotBytes), a one-file delta to ~12 KiB (journalRecordBytes): one snapshot in 33 pieces adds
 * under 1 KiB per patient to each call's stored bytes, while a take-over replays at most 32 small records.
 */
export const DELTAS_PER_SNAPSHOT = 32;

/** Bytes of a piece id (random; 16 hex characters). */
const PIECE_ID_BYTES = 8;
/** Piece plaintext prefix: its commit number (u64). */
const COMMIT_HEAD = 8;

const pieceId = z.string().regex(/^[0-9a-f]{16}$/, 'a piece id is 16 hex characters');
const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'expected bytes');

/** A stored checkpoint piece as the host hands it back. */
export const partitionPieceSchema = z.strictObject({ id: pieceId, bytes });
export type PartitionPiece = z.infer<typeof partitionPieceSchema>;

/** A partition's committed chain: its snapshot and the deltas after it, in order (both absent: a new partition). */
export const partitionChainSchema = z.strictObject({
  snapshot: partitionPieceSchema.optional(),
  deltas: z.array(partitionPieceSchema),
});
export type PartitionChain = z.infer<typeof partitionChainSchema>;

/** One file handed in for a partition, as it crosses from the host (other fields, as a host's file records carry, are dropped). */
export const batchFileSchema = z.object({
  name: z.string().min(1),
  bytes,
  release: z.boolean().optional(),
});
/** The host's acknowledgement of a durable result, as it crosses from the host. */
export const resultAckSchema = z.object({
  gateway: z.string().min(1),
  patient: z.string().min(1),
  seq: z.number().int().min(0),
});

/** The piece a call made, for the host to append to the partition's chain (a snapshot starts a new chain). */
export type CheckpointPiece =
  | { kind: 'snapshot'; id: string; bytes: Uint8Array }
  | { kind: 'delta'; id: string; snapshot: string; index: number; bytes: Uint8Array };

/** Everything a micro-batch outcome has, plus the checkpoint piece to commit (absent when the state did not change). */
export interface PartitionOutcome extends BatchOutcome {
  checkpoint?: CheckpointPiece;
}

/** A partition opened from its chain: the number of its last commit (0 for a new partition) and the deltas after its snapshot. */
export interface PartitionOpened {
  commit: number;
  deltas: number;
}

/** A partition's commit as results name it (`state_commit`): partition, number within it, piece id. */
export interface PartitionCommit {
  p: number;
  n: number;
  id: string;
}

/** The enclave's public keys, once it holds the cluster secrets. */
export interface ClusterKeys {
  publicKey: Uint8Array;
  signingPublicKey: Uint8Array;
  keyId: string;
}

interface OpenPartition {
  analyser: HrvAnalyser;
  /** Id of the chain's snapshot (undefined: none yet, the next piece is one). */
  snapshot: string | undefined;
  /** Deltas after the snapshot. */
  deltas: number;
  /** Number of the last commit in the chain. */
  commit: number;
}

const snapshotPurpose = (partitions: number, p: number, id: string): string =>
  `partition/v1/${partitions}/${p}/snapshot/${id}`;
const deltaPurpose = (partitions: number, p: number, snapshot: string, index: number, id: string): string =>
  `partition/v1/${partitions}/${p}/${snapshot}/delta/${index}/${id}`;

/** Seals a piece: its commit number, then `data` padded to at least `minBytes` (bytes), as one buffer. */
function sealPiece(
  secret: Uint8Array,
  purpose: string,
  commit: number,
  data: Uint8Array,
  minBytes: number,
): Uint8Array {
  const head = Buffer.alloc(COMMIT_HEAD);
  head.writeBigUInt64BE(BigInt(commit), 0);
  return new Uint8Array(Buffer.concat([...sealPadded(secret, purpose, head, [data], minBytes).pieces]));
}

/** Opens a piece sealed by `sealPiece`; its commit number must be `commit` (else the chain was spliced). */
function openPiece(
  secret: Uint8Array,
  purpose: string,
  piece: PartitionPiece,
  commit: number | undefined,
  what: string,
): { commit: number; data: Uint8Array } {
  const plain = Buffer.from(unsealPiece(secret, purpose, piece.bytes, what));
  if (plain.length < COMMIT_HEAD) throw new SealingError(`${what} is malformed`);
  const n = Number(plain.readBigUInt64BE(0));
  if (commit !== undefined && n !== commit)
    throw new SealingError(`${what} is commit ${n}, expected ${commit}: the chain is not in its order`);
  return { commit: n, data: unpad(plain.subarray(COMMIT_HEAD), what) };
}

function unsealPiece(secret: Uint8Array, purpose: string, blob: Uint8Array, what: string): Uint8Array {
  try {
    return unseal(secret, purpose, blob);
  } catch (err) {
    throw new SealingError(
      `${what} does not open: not a piece of this partition at this place in its chain, or altered`,
      { cause: err },
    );
  }
}

export interface ClusterCoreOptions {
  /** The worker's data directory: its platform sealing secret (`seal.key`) and its copy of the cluster secrets. */
  dataDir: string;
  platformPrivateKey: Uint8Array;
  measurement: string;
  enrolledGateways: EnrolledGateway[];
  /** The deployment's partition count (1–1024). */
  partitions: number;
}

/** The cluster-mode enclave's state machine: the cluster secrets (once held) and the open partitions. */
export class ClusterCore {
  readonly measurement: string;
  readonly partitions: number;
  readonly #dataDir: string;
  readonly #platformKey: Uint8Array;
  readonly #sealingSecret: Uint8Array;
  readonly #gateways = new Map<string, EnrolledGateway>();
  readonly #epochs = new EpochCache();
  #held: { secrets: ClusterSecrets; openers: FileOpeners } | undefined;
  readonly #open = new Map<number, OpenPartition>();

  constructor(opts: ClusterCoreOptions) {
    const parsed = partitionsSchema.safeParse(opts.partitions);
    if (!parsed.success)
      throw new HrvaultError(
        'HRV_ERR_CONFIG',
        `partitions must be an integer from 1 to 1024, not ${opts.partitions}`,
        { cause: parsed.error },
      );
    this.partitions = opts.partitions;
    this.measurement = opts.measurement;
    this.#dataDir = opts.dataDir;
    this.#platformKey = opts.platformPrivateKey;
    for (const g of opts.enrolledGateways) this.#gateways.set(g.id, g);
    this.#sealingSecret = loadSealingSecret(join(opts.dataDir, 'seal.key'));
    const saved = loadClusterSecrets(opts.dataDir, this.#sealingSecret);
    if (saved) this.#adopt(saved);
  }

  /** True once the enclave holds the cluster secrets (bootstrapped here, provisioned, or loaded from its disk). */
  get ready(): boolean {
    return this.#held !== undefined;
  }

  #adopt(secrets: ClusterSecrets): void {
    // NO_ROTATION: see createClusterSecrets (workers rotating on their own clocks would hold different rings).
    this.#held = {
      secrets,
      openers: {
        keys: KeyRing.fromPortable(secrets.ring, NO_ROTATION),
        gateways: this.#gateways,
        epochs: this.#epochs,
      },
    };
  }

  #require(): { secrets: ClusterSecrets; openers: FileOpeners } {
    if (!this.#held)
      throw new HrvaultError(
        'HRV_ERR_ENCLAVE',
        'this enclave holds no cluster secrets yet: bootstrap the cluster (first worker) or provision this worker from one that has them',
      );
    return this.#held;
  }

  /** Makes the cluster's secrets here and saves them sealed (the first worker of a new cluster); refused if it holds some. */
  bootstrap(now = Date.now()): ClusterKeys {
    if (this.#held)
      throw new HrvaultError(
        'HRV_ERR_CONFLICT',
        'this enclave already holds cluster secrets; a cluster is bootstrapped once',
      );
    const secrets = createClusterSecrets(now);
    saveClusterSecrets(this.#dataDir, this.#sealingSecret, secrets);
    this.#adopt(secrets);
    return this.keys;
  }

  /**
   * Takes the cluster secrets in their encoded form (provisioning.ts unwraps them after attestation) and saves them
   * sealed. The same secrets again are accepted (a retried hand-over); different ones are refused (HRV_ERR_CONFLICT).
   */
  install(encoded: Uint8Array): ClusterKeys {
    const secrets = decodeClusterSecrets(encoded);
    if (this.#held) {
      if (!sameClusterSecrets(this.#held.secrets, secrets))
        throw new HrvaultError('HRV_ERR_CONFLICT', 'this enclave already holds other cluster secrets');
      return this.keys;
    }
    saveClusterSecrets(this.#dataDir, this.#sealingSecret, secrets);
    this.#adopt(secrets);
    return this.keys;
  }

  /** The held secrets, for provisioning.ts inside this process to seal to an attested peer; never for the host. */
  heldSecrets(): ClusterSecrets {
    return this.#require().secrets;
  }

  /** The current public keys; refused until the secrets are held. */
  get keys(): ClusterKeys {
    const k = this.#require().openers.keys.current;
    return { publicKey: k.publicKey, signingPublicKey: k.signingPublicKey, keyId: k.keyId };
  }

  /** A quote binding the measurement and the cluster's current public keys to `nonce`; refused until the secrets are held. */
  quote(nonce: Uint8Array): Quote {
    const k = this.keys;
    return createQuote(this.#platformKey, {
      measurement: this.measurement,
      enclavePublicKey: k.publicKey,
      enclaveSigningKey: k.signingPublicKey,
      nonce,
    });
  }

  /** Epoch opening blocks this process authenticated. */
  get epochUnlocks(): number {
    return this.#epochs.unlocks;
  }

  /** Partitions open in this enclave, ascending. */
  get openPartitions(): number[] {
    return [...this.#open.keys()].sort((a, b) => a - b);
  }

  #checkPartition(p: unknown): number {
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p >= this.partitions)
      throw new HrvaultError(
        'HRV_ERR_PARTITION',
        `partition ${String(p)} is not one of 0–${this.partitions - 1}`,
      );
    return p;
  }

  /**
   * (Re-)opens partition `p` from its committed chain, replacing any state held for it: each piece is opened with
   * the state secret and checked to be of this partition at its place; an empty chain is a new partition.
   */
  openPartition(p: number, chain: PartitionChain): PartitionOpened {
    const { secrets } = this.#require();
    this.#checkPartition(p);
    const parsed = partitionChainSchema.safeParse(chain);
    if (!parsed.success)
      throw new HrvaultError(
        'HRV_ERR_VALIDATION',
        `partition ${p}: the chain is malformed: ${parsed.error.issues[0]?.message ?? ''}`,
        { cause: parsed.error },
      );
    const { snapshot, deltas } = parsed.data;
    // Dropped before the new chain is read: a failed open must not leave the old state looking current.
    this.#open.delete(p);
    const analyser = new HrvAnalyser({ journal: true });
    if (!snapshot) {
      if (deltas.length > 0)
        throw new SealingError(`partition ${p}: a chain of ${deltas.length} deltas without its snapshot`);
      this.#open.set(p, { analyser, snapshot: undefined, deltas: 0, commit: 0 });
      return { commit: 0, deltas: 0 };
    }
    if (deltas.length > DELTAS_PER_SNAPSHOT)
      throw new SealingError(
        `partition ${p}: ${deltas.length} deltas after a snapshot, more than the ${DELTAS_PER_SNAPSHOT} this enclave makes`,
      );
    const s = openPiece(
      secrets.stateSecret,
      snapshotPurpose(this.partitions, p, snapshot.id),
      snapshot,
      undefined,
      `partition ${p} snapshot ${snapshot.id}`,
    );
    analyser.load(s.data);
    let commit = s.commit;
    deltas.forEach((d, i) => {
      const r = openPiece(
        secrets.stateSecret,
        deltaPurpose(this.partitions, p, snapshot.id, i, d.id),
        d,
        commit + 1,
        `partition ${p} delta ${i} (${d.id})`,
      );
      analyser.applyDelta(r.data);
      commit = r.commit;
    });
    // Loading recorded nothing to journal; the next takeDelta holds the next call's changes only.
    analyser.takeDelta();
    this.#open.set(p, { analyser, snapshot: snapshot.id, deltas: deltas.length, commit });
    return { commit, deltas: deltas.length };
  }

  /**
   * Opens, checks and analyses one micro-batch of partition `p` (see EnclaveCore.processBatch) and returns, with the
   * outcome, the checkpoint piece that commits it: a snapshot when the partition has none yet or DELTAS_PER_SNAPSHOT
   * deltas follow it, else the next delta; none when nothing changed. The host stores the piece before it releases
   * the results, or closes the partition (see the module comment). Files of patients of other partitions are refused.
   */
  processPartition(p: number, files: BatchFile[], written: ResultAck[] = []): PartitionOutcome {
    const { secrets, openers } = this.#require();
    this.#checkPartition(p);
    const st = this.#open.get(p);
    if (!st)
      throw new HrvaultError(
        'HRV_ERR_PARTITION',
        `partition ${p} is not open in this enclave: open it from its committed chain first`,
      );
    let acked = false;
    for (const a of written) if (st.analyser.acknowledge(a)) acked = true;
    const id = randomBytes(PIECE_ID_BYTES).toString('hex');
    const commit: PartitionCommit = { p, n: st.commit + 1, id };
    const run = runBatchFiles(openers, st.analyser, files, commit, (h: EnvelopeHeader) => {
      const home = partitionOf(`${h.gateway}/${h.patient}`, this.partitions);
      if (home !== p)
        throw new HrvaultError(
          'HRV_ERR_PARTITION',
          `${h.gateway}/${h.patient} belongs to partition ${home}, not ${p}`,
        );
    });
    const delta = acked || run.accepted ? st.analyser.takeDelta() : undefined;
    if (!delta) return run.outcome;
    try {
      let checkpoint: CheckpointPiece;
      if (st.snapshot === undefined || st.deltas >= DELTAS_PER_SNAPSHOT) {
        const data = st.analyser.save();
        checkpoint = {
          kind: 'snapshot',
          id,
          bytes: sealPiece(
            secrets.stateSecret,
            snapshotPurpose(this.partitions, p, id),
            commit.n,
            data,
            snapshotBytes(st.analyser.patientCount),
          ),
        };
        st.snapshot = id;
        st.deltas = 0;
      } else {
        const index = st.deltas;
        checkpoint = {
          kind: 'delta',
          id,
          snapshot: st.snapshot,
          index,
          bytes: sealPiece(
            secrets.stateSecret,
            deltaPurpose(this.partitions, p, st.snapshot, index, id),
            commit.n,
            delta,
            run.recordBytes(written.length),
          ),
        };
        st.deltas++;
      }
      st.commit = commit.n;
      return { ...run.outcome, checkpoint };
    } catch (err) {
      // Memory is ahead of any piece the host could store: drop it, the host re-opens from its chain.
      this.#open.delete(p);
      throw new SealingError(
        `partition ${p}: its checkpoint could not be sealed; re-open it from its chain`,
        { cause: err },
      );
    }
  }

  /** Drops partition `p`'s state from memory (lease lost, or its piece not stored); true if it was open. */
  closePartition(p: number): boolean {
    this.#checkPartition(p);
    return this.#open.delete(p);
  }
}
