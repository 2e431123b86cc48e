/**
 * The enclave's sealed state on disk, committed incrementally: a snapshot (`state.sealed`) plus an append-only
 * journal (`state-<generation>.journal`) of one sealed record per micro-batch holding only what that micro-batch
 * changed (new beats, counters, receipts with the results until acknowledged, acknowledgements). A commit is one
 * append and one fdatasync; once the journal has grown to four times the snapshot, a new snapshot (temp, fsync,
 * rename) starts the next generation and the old journal is deleted. The enclave writes it at the start of a
 * micro-batch, after the acknowledgements, so it holds the windows and receipts but (normally) no result bytes.
 *
 * Crash at any instant: a torn last record (never fsync'd, so never answered) is cut off at load; a crash between
 * the new snapshot and the old journal's deletion leaves a stale journal of an older generation, deleted at load.
 * Records are sealed with their generation and index as associated data, so the host can neither reorder nor
 * splice them; it can cut the tail (roll back), as it can restore an old snapshot: software mode has no hardware
 * monotonic counter. So the state carries its own commit counter: every journal record is commit number n (one more
 * than the last) with a fresh random commit id, and every result the enclave seals names the commit that holds its
 * receipt. A rolled-back state makes commit numbers again that the gateways already saw with other ids, which they
 * detect (src/gateway/enclave-commits.ts; what it cannot detect: docs/pipeline-security.md). Record plaintexts are
 * padded (powers of two from 1 KiB to 64 KiB, then 64-KiB steps), so a record of one patient does not reveal its
 * beat count. A record or snapshot is encrypted and written in pieces (sealPieces): at 10,000 patients they are
 * 120 MB and 280 MB, mostly padding, and neither the padded plaintext nor the sealed blob is ever built whole.
 */
import { closeSync, existsSync, fdatasyncSync, ftruncateSync, openSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fsyncDir, writeAllSync, writeChunksDurable } from '../durable-file.js';
import { SealingError, sealedLength, sealPieces, unseal } from './sealing.js';

const SNAPSHOT = 'state.sealed';
/** Sealing purpose of the snapshot (generation, commit counter, state) and prefix of the journal records' purposes. */
const SNAPSHOT_PURPOSE = 'state/v3';
const JOURNAL_PURPOSE = 'journal/v3';
/** Commit id bytes (random per commit): tells two commits of the same number apart after a rollback. */
const COMMIT_ID_BYTES = 16;
/** Record header: commit number (u64) ‖ commit id. */
const COMMIT_HEAD = 8 + COMMIT_ID_BYTES;

/** One state commit as results name it: its number (1, 2, … per state) and random id (base64url). */
export interface StateCommit {
  n: number;
  id: string;
}
const JOURNAL = /^state-(\d+)\.journal$/;
/** Below this journal size no new snapshot is written (a small state is cheap to replay). */
const MIN_CHECKPOINT_BYTES = 64 * 1024;

/** Journal bytes that trigger a new snapshot, as a multiple of the snapshot's size. */
const CHECKPOINT_RATIO = 4;
const PAD_STEP = 64 * 1024;

/**
 * Power of two ≥ 1 KiB up to 64 KiB, then multiples of 64 KiB, of at least `minBytes`: the padded size of `dataBytes`
 * of data after its u32 length. Small records (one patient) hide their beat count, and a caller that sizes
 * `minBytes` from what the host already knows hides it entirely.
 */
function paddedSize(dataBytes: number, minBytes = 0): number {
  const need = Math.max(dataBytes + 4, minBytes);
  let size = 1024;
  while (size < need && size < PAD_STEP) size *= 2;
  if (size < need) size = Math.ceil(need / PAD_STEP) * PAD_STEP;
  return size;
}

/**
 * Seals `prefix` ‖ pad(`data`) — pad being u32 length ‖ data ‖ zeros up to `paddedSize` — as one blob's pieces,
 * made as they are consumed, so neither the padded plaintext nor the sealed blob is ever one buffer. `bytes`: the
 * blob's length, known before it is made.
 */
export function sealPadded(secret: Uint8Array, purpose: string, prefix: Uint8Array, data: readonly Uint8Array[], minBytes: number): { pieces: Iterable<Buffer>; bytes: number } {
  const dataBytes = data.reduce((n, c) => n + c.length, 0);
  const size = paddedSize(dataBytes, minBytes);
  const head = Buffer.alloc(prefix.length + 4);
  head.set(prefix, 0);
  head.writeUInt32BE(dataBytes, prefix.length);
  return { pieces: sealPieces(secret, purpose, [head, ...data], size - 4 - dataBytes), bytes: sealedLength(head.length + size - 4) };
}

function* prepend<T>(first: T, rest: Iterable<T>): Generator<T> {
  yield first;
  yield* rest;
}

export function unpad(padded: Uint8Array, what: string): Uint8Array {
  const b = Buffer.from(padded.buffer, padded.byteOffset, padded.length);
  const n = b.length >= 4 ? b.readUInt32BE(0) : -1;
  if (n < 0 || n + 4 > b.length) throw new SealingError(`${what} is malformed`);
  return b.subarray(4, 4 + n);
}

/** Snapshot plus journal; one instance per enclave process. */
export class SealedStateStore {
  readonly #dir: string;
  readonly #secret: Uint8Array;
  #generation = 0;
  #index = 0;
  #journalBytes = 0;
  #snapshotBytes = 0;
  #fd: number | undefined;
  /** Number of the last durable commit (0: none yet). */
  #counter = 0;
  #nextId = randomBytes(COMMIT_ID_BYTES);

  constructor(dir: string, secret: Uint8Array) {
    this.#dir = dir;
    this.#secret = secret;
  }

  #journalFile(gen = this.#generation): string {
    return join(this.#dir, `state-${gen}.journal`);
  }

  /** Reads the snapshot (`restore`) and replays every complete journal record (`replay`), cutting off a torn tail. */
  load(restore: (snapshot: Uint8Array) => void, replay: (delta: Uint8Array) => void): void {
    const snap = join(this.#dir, SNAPSHOT);
    if (existsSync(snap)) {
      const blob = readFileSync(snap);
      this.#snapshotBytes = blob.length;
      const plain = unseal(this.#secret, SNAPSHOT_PURPOSE, blob);
      const b = Buffer.from(plain.buffer, plain.byteOffset, plain.length);
      if (b.length < 12) throw new SealingError('sealed state is malformed');
      this.#generation = b.readUInt32BE(0);
      this.#counter = Number(b.readBigUInt64BE(4));
      restore(unpad(b.subarray(12), 'sealed state'));
    }
    // Journals of other generations are left over from a crash between a snapshot and the old journal's deletion.
    for (const name of readdirSync(this.#dir)) {
      const m = JOURNAL.exec(name);
      if (m && Number(m[1]) !== this.#generation) unlinkSync(join(this.#dir, name));
    }
    const file = this.#journalFile();
    if (!existsSync(file)) return;
    const j = readFileSync(file);
    let off = 0;
    while (off + 4 <= j.length) {
      const len = j.readUInt32BE(off);
      if (off + 4 + len > j.length) break; // torn: the crash came during this append
      let plain: Uint8Array;
      try {
        plain = unseal(this.#secret, `${JOURNAL_PURPOSE}/${this.#generation}/${this.#index}`, j.subarray(off + 4, off + 4 + len));
      } catch (err) {
        // The last record may be garbage from a torn write that was never answered; one in the middle is tampering.
        if (off + 4 + len === j.length) break;
        throw err;
      }
      const rec = Buffer.from(unpad(plain, 'journal record'));
      if (rec.length < COMMIT_HEAD) throw new SealingError('journal record is malformed');
      this.#counter = Number(rec.readBigUInt64BE(0));
      replay(rec.subarray(COMMIT_HEAD));
      off += 4 + len;
      this.#index++;
    }
    if (off < j.length) {
      const fd = openSync(file, 'r+');
      try {
        ftruncateSync(fd, off);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    this.#journalBytes = off;
  }

  /**
   * True when the journal has grown to CHECKPOINT_RATIO times the snapshot: the amortised snapshot cost per
   * micro-batch is then a quarter of its delta, and a start replays at most that much journal.
   */
  get checkpointDue(): boolean {
    return this.#journalBytes >= CHECKPOINT_RATIO * Math.max(this.#snapshotBytes, MIN_CHECKPOINT_BYTES);
  }

  /** The commit the next `commit` call makes: results sealed before it name it (their receipts are in it). */
  get nextCommit(): StateCommit {
    return { n: this.#counter + 1, id: this.#nextId.toString('base64url') };
  }

  /** Number of the last durable commit (0 before the first). */
  get counter(): number {
    return this.#counter;
  }

  /**
   * Commits one micro-batch's delta durably (append + fdatasync) as commit `nextCommit`. `minBytes`: the record's
   * padded size is at least this (the host sees the journal grow; see EnclaveCore's record sizing).
   */
  commit(delta: Uint8Array | readonly Uint8Array[], minBytes = 0): void {
    const head = Buffer.alloc(COMMIT_HEAD);
    head.writeBigUInt64BE(BigInt(this.#counter + 1), 0);
    this.#nextId.copy(head, 8);
    // The record's data is head ‖ delta; sealPadded puts its length before it, as pad() of one buffer did.
    const data = [head, ...(delta instanceof Uint8Array ? [delta] : delta)];
    const sealed = sealPadded(this.#secret, `${JOURNAL_PURPOSE}/${this.#generation}/${this.#index}`, new Uint8Array(0), data, minBytes);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(sealed.bytes, 0);
    if (this.#fd === undefined) {
      const created = !existsSync(this.#journalFile());
      this.#fd = openSync(this.#journalFile(), 'a', 0o600);
      if (created) fsyncDir(this.#dir);
    }
    writeAllSync(this.#fd, prepend(len, sealed.pieces));
    fdatasyncSync(this.#fd);
    this.#index++;
    this.#journalBytes += 4 + sealed.bytes;
    this.#counter++;
    this.#nextId = randomBytes(COMMIT_ID_BYTES);
  }

  /**
   * Writes the whole state as the next generation's snapshot and deletes the old journal. `minBytes`: its padded
   * size is at least this (the host sees the snapshot's size; see EnclaveCore's snapshot sizing).
   */
  checkpoint(state: Uint8Array | readonly Uint8Array[], minBytes = 0): void {
    const next = this.#generation + 1;
    const head = Buffer.alloc(12);
    head.writeUInt32BE(next, 0);
    head.writeBigUInt64BE(BigInt(this.#counter), 4);
    const sealed = sealPadded(this.#secret, SNAPSHOT_PURPOSE, head, state instanceof Uint8Array ? [state] : state, minBytes);
    writeChunksDurable(join(this.#dir, SNAPSHOT), sealed.pieces);
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    const old = this.#journalFile();
    this.#generation = next;
    this.#index = 0;
    this.#journalBytes = 0;
    this.#snapshotBytes = sealed.bytes;
    if (existsSync(old)) unlinkSync(old);
  }

  /** Bytes on disk now (snapshot + journal), for the benchmark. */
  get bytes(): { snapshot: number; journal: number } {
    const f = this.#journalFile();
    return { snapshot: this.#snapshotBytes, journal: existsSync(f) ? statSync(f).size : 0 };
  }
}
