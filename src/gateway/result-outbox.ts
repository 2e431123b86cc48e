/**
 * The gateway's durable outbox of verified results, between the cloud's result files and the CSP.
 *
 * Commit points (docs/pipeline.md):
 * - R1 `accept`: the verified result is written as its own file (atomic, fsync'd) before the gateway deletes the
 *   cloud's copy. A crash before R1 leaves the cloud's file, fetched again; after R1 it is here.
 * - R2 `delivered`: after the CSP acknowledged (stored or duplicate), the patient's high-water sequence number is
 *   raised durably, then the entry is deleted. A crash between the two re-sends the entry; the CSP answers
 *   "duplicate" (it dedupes by gateway, patient and seq), so nothing is stored twice.
 * A result whose seq is at or below the patient's high-water mark, or already waiting here, is a replay (the
 * enclave accepts each patient's sequence numbers only in increasing order) and is refused as a duplicate.
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
const marksSchema = z.strictObject({ order: z.number().int().min(0), seq: z.record(z.string(), z.number().int().min(-1)) });
const ENTRY_NAME = /^(\d{12})\.json$/;

export class ResultOutbox {
  readonly #dir: string;
  readonly #entriesDir: string;
  readonly #rejectedDir: string;
  /** Highest seq per patient that was delivered (durable in marks.json) or is waiting here. */
  readonly #high = new Map<string, number>();
  #delivered: Record<string, number> = {};
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
      o.#delivered = marks.seq;
      o.#order = marks.order;
      for (const [p, s] of Object.entries(marks.seq)) o.#high.set(p, s);
    }
    for (const name of readdirSync(o.#entriesDir).sort()) {
      const m = ENTRY_NAME.exec(name);
      if (!m) continue; // a temp file of an interrupted write: its entry was never accepted
      const file = join(o.#entriesDir, name);
      const e = parseContract(`gateway result entry ${name}`, entrySchema, JSON.parse(readFileSync(file, 'utf8')));
      const order = Number(m[1]);
      o.#pending.push({ order, patient: e.patient, result: e.result, file });
      o.#order = Math.max(o.#order, order + 1);
      o.#high.set(e.patient, Math.max(o.#high.get(e.patient) ?? -1, e.result.seq));
    }
    return o;
  }

  /** Commit point R1: stores a verified result durably; 'duplicate' (nothing stored) for a replayed sequence number. */
  accept(patient: string, result: HrvResult): 'accepted' | 'duplicate' {
    if (result.seq <= (this.#high.get(patient) ?? -1)) return 'duplicate';
    const order = this.#order++;
    const file = join(this.#entriesDir, `${String(order).padStart(12, '0')}.json`);
    try {
      writeFileDurable(file, JSON.stringify({ patient, result }));
    } catch (err) {
      throw new HrvaultError('HRV_ERR_SPOOL', `result outbox: could not write ${file}`, { cause: err });
    }
    this.#high.set(patient, result.seq);
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
    for (const e of entries) this.#delivered[e.patient] = Math.max(this.#delivered[e.patient] ?? -1, e.result.seq);
    const maxOrder = Math.max(...entries.map((e) => e.order));
    writeFileDurable(join(this.#dir, 'marks.json'), JSON.stringify({ order: Math.max(this.#order, maxOrder + 1), seq: this.#delivered }));
    this.#remove(entries);
    for (const e of entries) unlinkSync(e.file);
    fsyncDir(this.#entriesDir);
  }

  /** Moves entries the CSP refused as malformed aside (kept for an operator, with the reason), so they stop blocking the queue. */
  reject(entries: readonly OutboxEntry[], reason: string): void {
    for (const e of entries) {
      const name = e.file.slice(this.#entriesDir.length + 1);
      writeFileDurable(join(this.#rejectedDir, `${name}.reason.txt`), `${reason}\n`);
      renameSync(e.file, join(this.#rejectedDir, name));
    }
    fsyncDir(this.#entriesDir);
    this.#remove(entries);
  }

  #remove(entries: readonly OutboxEntry[]): void {
    const gone = new Set(entries.map((e) => e.order));
    for (let i = this.#pending.length - 1; i >= 0; i--) if (gone.has(this.#pending[i]!.order)) this.#pending.splice(i, 1);
  }
}
