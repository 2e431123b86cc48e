/**
 * The gateway's durable outbox of verified results, between the cloud's result files and the CSP.
 *
 * Commit points (docs/pipeline.md):
 * - R1 `accept`: the verified result is written as its own file (atomic, fsync'd) before the gateway deletes the
 *   cloud's copy. A crash before R1 leaves the cloud's file, fetched again; after R1 it is here.
 * - R2 `delivered`: after the CSP acknowledged (stored or duplicate), the delivered sequence numbers are recorded
 *   durably, then the entry is deleted. A crash between the two re-sends the entry; the CSP answers
 *   "duplicate" (it dedupes by gateway, patient and seq), so nothing is stored twice.
 * A result whose seq was delivered or is waiting here is a replay and is refused as a duplicate. The set is exact
 * (merged ranges per patient), not a high-water mark: results arrive in whatever order the untrusted host lists
 * them, and the enclave analyses a late file after later ones, so a mark would refuse a genuine earlier result.
 */
import { mkdirSync, readdirSync, readFileSync, unlinkSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { hrvResultSchema, parseContract, personIdSchema, type HrvResult } from '../contracts/index.js';
import { fsyncDir, writeFileDurable } from '../durable-file.js';
import { HrvaultError } from '../errors.js';

/** One result waiting for delivery, oldest first by `order`. */
export interface OutboxEntry {
  order: number;
  patient: string;
  result: HrvResult;
  file: string;
}

const entrySchema = z.strictObject({ patient: personIdSchema, result: hrvResultSchema });
const range = z.tuple([z.number().int().min(0), z.number().int().min(0)]).refine(([lo, hi]) => lo <= hi, 'a range needs lo ≤ hi');
/** `seq`: an older gateway's per-patient high-water mark (everything from 0 up to it delivered); `ranges`: delivered seqs. */
const marksSchema = z.strictObject({
  order: z.number().int().min(0),
  seq: z.record(z.string(), z.number().int().min(-1)).optional(),
  ranges: z.record(z.string(), z.array(range)).optional(),
});

/** Sorted, disjoint, non-adjacent inclusive ranges of sequence numbers. */
type Ranges = Array<[number, number]>;

function rangesHave(r: Ranges, seq: number): boolean {
  let lo = 0;
  let hi = r.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = r[mid]!;
    if (seq < a) hi = mid - 1;
    else if (seq > b) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Sorts and merges ranges read from disk (overlapping or adjacent ones become one). */
function rangesNormal(input: ReadonlyArray<readonly [number, number]>): Ranges {
  const out: Ranges = [];
  for (const [lo, hi] of [...input].sort((a, b) => a[0] - b[0])) {
    const last = out.at(-1);
    if (last !== undefined && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** Adds `seq` to `r` in place, merging with its neighbours. */
function rangesAdd(r: Ranges, seq: number): void {
  if (rangesHave(r, seq)) return;
  let i = 0;
  while (i < r.length && r[i]![1] < seq) i++;
  const joinsLeft = i > 0 && r[i - 1]![1] === seq - 1;
  const joinsRight = i < r.length && r[i]![0] === seq + 1;
  if (joinsLeft && joinsRight) {
    r[i - 1]![1] = r[i]![1];
    r.splice(i, 1);
  } else if (joinsLeft) r[i - 1]![1] = seq;
  else if (joinsRight) r[i]![0] = seq;
  else r.splice(i, 0, [seq, seq]);
}
const ENTRY_NAME = /^(\d{12})\.json$/;

export class ResultOutbox {
  readonly #dir: string;
  readonly #entriesDir: string;
  readonly #rejectedDir: string;
  /** Per patient, the seqs delivered (durable in marks.json) or waiting here. */
  readonly #seen = new Map<string, Ranges>();
  /** Per patient, the seqs the CSP acknowledged (what marks.json holds). */
  readonly #delivered = new Map<string, Ranges>();
  #order = 0;
  readonly #pending: OutboxEntry[] = [];

  private constructor(dir: string) {
    this.#dir = dir;
    this.#entriesDir = join(dir, 'entries');
    this.#rejectedDir = join(dir, 'rejected');
  }

  /** Opens (or creates) the outbox in `dir` and reads back every entry not yet delivered. */
  static open(dir: string): ResultOutbox {
    const o = new ResultOutbox(dir);
    mkdirSync(o.#entriesDir, { recursive: true });
    mkdirSync(o.#rejectedDir, { recursive: true });
    const marksFile = join(dir, 'marks.json');
    if (existsSync(marksFile)) {
      const marks = parseContract('gateway result marks', marksSchema, JSON.parse(readFileSync(marksFile, 'utf8')));
      o.#order = marks.order;
      for (const [p, high] of Object.entries(marks.seq ?? {})) if (high >= 0) o.#delivered.set(p, [[0, high]]);
      for (const [p, r] of Object.entries(marks.ranges ?? {})) o.#delivered.set(p, rangesNormal([...(o.#delivered.get(p) ?? []), ...r]));
      for (const [p, r] of o.#delivered) o.#seen.set(p, r.map(([a, b]) => [a, b] as [number, number]));
    }
    for (const name of readdirSync(o.#entriesDir).sort()) {
      const m = ENTRY_NAME.exec(name);
      if (!m) continue; // a temp file of an interrupted write: its entry was never accepted
      const file = join(o.#entriesDir, name);
      const e = parseContract(`gateway result entry ${name}`, entrySchema, JSON.parse(readFileSync(file, 'utf8')));
      const order = Number(m[1]);
      o.#pending.push({ order, patient: e.patient, result: e.result, file });
      o.#order = Math.max(o.#order, order + 1);
      o.#see(e.patient, e.result.seq);
    }
    return o;
  }

  /** True when `seq` of `patient` was delivered or waits here (a result for it now is a replay). */
  has(patient: string, seq: number): boolean {
    return rangesHave(this.#seen.get(patient) ?? [], seq);
  }

  /** Commit point R1: stores a verified result durably; 'duplicate' (nothing stored) for a replayed sequence number. */
  accept(patient: string, result: HrvResult): 'accepted' | 'duplicate' {
    if (rangesHave(this.#seen.get(patient) ?? [], result.seq)) return 'duplicate';
    const order = this.#order++;
    const file = join(this.#entriesDir, `${String(order).padStart(12, '0')}.json`);
    try {
      writeFileDurable(file, JSON.stringify({ patient, result }));
    } catch (err) {
      throw new HrvaultError('HRV_ERR_SPOOL', `result outbox: could not write ${file}`, { cause: err });
    }
    this.#see(patient, result.seq);
    this.#pending.push({ order, patient, result, file });
    return 'accepted';
  }

  /** Entries waiting for delivery, oldest first (at most `limit`). */
  pending(limit = Infinity): OutboxEntry[] {
    return this.#pending.slice(0, limit);
  }

  /** Number of entries waiting. */
  get size(): number {
    return this.#pending.length;
  }

  /** Commit point R2: the CSP acknowledged these entries; raises the high-water marks durably, then deletes them. */
  delivered(entries: readonly OutboxEntry[]): void {
    if (entries.length === 0) return;
    this.#settle(entries);
    this.#remove(entries);
    for (const e of entries) unlinkSync(e.file);
    fsyncDir(this.#entriesDir);
  }

  /** Moves entries the CSP refused as malformed aside (kept for an operator, with the reason), so they stop blocking the queue. */
  reject(entries: readonly OutboxEntry[], reason: string): void {
    if (entries.length === 0) return;
    for (const e of entries) {
      const name = e.file.slice(this.#entriesDir.length + 1);
      writeFileDurable(join(this.#rejectedDir, `${name}.reason.txt`), `${reason}\n`);
      renameSync(e.file, join(this.#rejectedDir, name));
    }
    fsyncDir(this.#entriesDir);
    // Settled like a delivery: a copy the host hands over again is a replay, not a new result.
    this.#settle(entries);
    this.#remove(entries);
  }

  /** Records the entries' seqs as settled in marks.json (atomic, durable). */
  #settle(entries: readonly OutboxEntry[]): void {
    for (const e of entries) {
      const r = this.#delivered.get(e.patient) ?? [];
      rangesAdd(r, e.result.seq);
      this.#delivered.set(e.patient, r);
    }
    const maxOrder = Math.max(...entries.map((e) => e.order));
    writeFileDurable(
      join(this.#dir, 'marks.json'),
      JSON.stringify({ order: Math.max(this.#order, maxOrder + 1), ranges: Object.fromEntries(this.#delivered) }),
    );
  }

  #see(patient: string, seq: number): void {
    const r = this.#seen.get(patient) ?? [];
    rangesAdd(r, seq);
    this.#seen.set(patient, r);
  }

  #remove(entries: readonly OutboxEntry[]): void {
    const gone = new Set(entries.map((e) => e.order));
    for (let i = this.#pending.length - 1; i >= 0; i--) if (gone.has(this.#pending[i]!.order)) this.#pending.splice(i, 1);
  }
}
