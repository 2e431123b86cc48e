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
 * splice them; it can cut the tail (roll back), as it can restore an old snapshot: software mode has no monotonic
 * counter (docs/pipeline-security.md). Record plaintexts are padded (powers of two from 1 KiB to 64 KiB, then
 * 64-KiB steps), so a record of one patient does not reveal its beat count.
 */
import { closeSync, existsSync, fdatasyncSync, ftruncateSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, writeFileDurable } from '../durable-file.js';
import { seal, SealingError, unseal } from './sealing.js';

const SNAPSHOT = 'state.sealed';
const JOURNAL = /^state-(\d+)\.journal$/;
/** Below this journal size no new snapshot is written (a small state is cheap to replay). */
const MIN_CHECKPOINT_BYTES = 64 * 1024;

/** Journal bytes that trigger a new snapshot, as a multiple of the snapshot's size. */
const CHECKPOINT_RATIO = 4;
const PAD_STEP = 64 * 1024;

/** Power of two ≥ 1 KiB up to 64 KiB, then multiples of 64 KiB: small records (one patient) hide their beat count. */
function pad(data: Uint8Array): Uint8Array {
  let size = 1024;
  while (size < data.length + 4 && size < PAD_STEP) size *= 2;
  if (size < data.length + 4) size = Math.ceil((data.length + 4) / PAD_STEP) * PAD_STEP;
  const out = Buffer.alloc(size);
  out.writeUInt32BE(data.length, 0);
  out.set(data, 4);
  return out;
}

function unpad(padded: Uint8Array, what: string): Uint8Array {
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
      let plain: Uint8Array;
      try {
        plain = unseal(this.#secret, 'state/v2', blob);
      } catch (err) {
        // A state written before the journal existed (whole state, no generation).
        try {
          plain = unseal(this.#secret, 'state', blob);
        } catch {
          throw err;
        }
        restore(plain);
        plain = new Uint8Array(0);
      }
      if (plain.length > 0) {
        const b = Buffer.from(plain.buffer, plain.byteOffset, plain.length);
        this.#generation = b.readUInt32BE(0);
        restore(b.subarray(4));
      }
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
        plain = unseal(this.#secret, `journal/${this.#generation}/${this.#index}`, j.subarray(off + 4, off + 4 + len));
      } catch (err) {
        // The last record may be garbage from a torn write that was never answered; one in the middle is tampering.
        if (off + 4 + len === j.length) break;
        throw err;
      }
      replay(unpad(plain, 'journal record'));
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

  /** Commits one micro-batch's delta durably (append + fdatasync). */
  commit(delta: Uint8Array): void {
    const blob = seal(this.#secret, `journal/${this.#generation}/${this.#index}`, pad(delta));
    const rec = Buffer.alloc(4 + blob.length);
    rec.writeUInt32BE(blob.length, 0);
    rec.set(blob, 4);
    if (this.#fd === undefined) {
      const created = !existsSync(this.#journalFile());
      this.#fd = openSync(this.#journalFile(), 'a', 0o600);
      if (created) fsyncDir(this.#dir);
    }
    let done = 0;
    while (done < rec.length) done += writeSync(this.#fd, rec, done);
    fdatasyncSync(this.#fd);
    this.#index++;
    this.#journalBytes += rec.length;
  }

  /** Writes the whole state as the next generation's snapshot and deletes the old journal. */
  checkpoint(state: Uint8Array): void {
    const next = this.#generation + 1;
    const plain = Buffer.alloc(4 + state.length);
    plain.writeUInt32BE(next, 0);
    plain.set(state, 4);
    const sealed = seal(this.#secret, 'state/v2', plain);
    writeFileDurable(join(this.#dir, SNAPSHOT), sealed);
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    const old = this.#journalFile();
    this.#generation = next;
    this.#index = 0;
    this.#journalBytes = 0;
    this.#snapshotBytes = sealed.length;
    if (existsSync(old)) unlinkSync(old);
  }

  /** Bytes on disk now (snapshot + journal), for the benchmark. */
  get bytes(): { snapshot: number; journal: number } {
    const f = this.#journalFile();
    return { snapshot: this.#snapshotBytes, journal: existsSync(f) ? statSync(f).size : 0 };
  }
}
