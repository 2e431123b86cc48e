/**
 * The gateway's durable spool. Beats are appended to the current segment file in groups, one fdatasync per
 * group (group commit); a beat's `append` resolves only after the fdatasync that covers it, and the gateway
 * sends its PUBACK only then. A batch cut rotates the segment, writes one pending batch file per patient
 * (plaintext — the gateway's own disk is inside the trusted edge), commits the per-patient sequence numbers and
 * beat watermarks in an atomically replaced state file, and only then deletes the old segment. Pending files are
 * deleted only after their upload is confirmed. After a crash, every segment not yet committed is read back, so
 * no acknowledged beat is lost and none is counted twice.
 *
 * A write that fails (ENOSPC, EIO) pauses the spool: the beats stay queued in memory, unacknowledged, their
 * bytes are written again at the same offset by a retry timer, and the spool resumes by itself once a write and
 * its fdatasync succeed. A cut that fails part-way changes nothing: the beats stay buffered and their segment stays.
 *
 * Edge accounting: beats are keyed by (patient, boot epoch, seq) so a device that restarts its counter under a new
 * epoch is not taken for a replay; sequence gaps per (patient, epoch) are counted and a late beat filling one is
 * accepted; a beat whose time steps back or lies too far ahead of the gateway's clock is quarantined on its own.
 *
 * Forged beats (issue 9): whoever can publish on a device's topic can send any number and time. A quarantined beat
 * therefore changes no per-device state — not the sequence high or watermark, not the epoch, not the last time — so
 * the genuine stream after it goes on as if it had never come: a number further ahead than `maxSeqJump` is
 * quarantined (`seq-jump`), a beat filling a gap is bounded in time like any other, and a cut orders its beats by
 * time, so that a forged beat that is accepted (in bounds) cannot put a batch out of order. What remains open: a
 * forged beat within the bounds is accepted, and one up to maxFutureMs ahead holds the genuine stream back as
 * `time-step-back` until the genuine time passes it; only the broker's per-device logins keep forgers out.
 *
 * Reordering: a broker may deliver a beat after its successors (a redelivery after a reconnect). The enclave takes
 * a patient's beats only in time order, so a batch must never hold a beat earlier than the last beat of an earlier
 * batch — one such beat would get its whole file refused. A cut therefore holds back the beats after a young gap
 * (younger than `reorderHoldMs`) for a later cut, and keeps the segments that hold them until they are cut. A gap
 * older than that is given up (counted in `seq_gaps`) and the beats after it are cut; a beat that fills it later
 * is quarantined alone as `late`.
 */
import {
  closeSync,
  fdatasync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  unlinkSync,
  writeSync,
  existsSync,
} from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { unlink } from 'node:fs/promises';
import { fsyncDir, fsyncDirAsync, writeFileDurableAsync } from '../durable-file.js';
import { HrvaultError } from '../errors.js';
import { failpoint } from '../failpoints/index.js';
import { RR_MAX_MS } from '../contracts/index.js';

/** One spooled beat (compact field names: the spool is written once per beat). `e` boot epoch (absent = 0), `q` quarantine reason. */
export interface SpooledBeat {
  p: string;
  s: number;
  t: number;
  r: number;
  e?: number;
  q?: QuarantineReason;
}

/**
 * Why a beat was set aside: its time steps back, lies too far ahead of our clock, jumps further ahead of its
 * device's previous beat than the beats between can span (see judgeTime), or came after a batch holding later beats
 * of its patient was cut (`late`), or its number lies more than `maxSeqJump` ahead of its device's highest (`seq-jump`).
 */
export type QuarantineReason = 'time-step-back' | 'time-future' | 'time-jump' | 'late' | 'seq-jump';

/** A cut batch waiting for upload: one patient's beats over one interval. */
export interface PendingBatch {
  patient: string;
  seq: number;
  tStartMs: number;
  tEndMs: number;
  beats: { t: number; r: number; s: number; e?: number }[];
}

/** The file operations the spool uses; tests substitute a disk that fills up. */
export interface SpoolIo {
  /** Positional write of `length` bytes of `buf` at `position`; returns the bytes written. */
  write(fd: number, buf: Buffer, offset: number, length: number, position: number): number;
  fdatasync(fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void;
  /** Atomic durable replacement (temp, fsync, rename, directory fsync unless `syncDir: false`). */
  writeFileDurable(file: string, data: string, opts?: { syncDir?: boolean }): Promise<void>;
}

export const nodeSpoolIo: SpoolIo = {
  write: (fd, buf, offset, length, position) => writeSync(fd, buf, offset, length, position),
  fdatasync: (fd, cb) => fdatasync(fd, cb),
  writeFileDurable: (file, data, opts) => writeFileDurableAsync(file, data, opts),
};

export interface SpoolOptions {
  io?: SpoolIo;
  /** The gateway's clock, epoch ms. */
  now?: () => number;
  /** A beat time further ahead of `now()` than this is quarantined, ms (default 1 h). */
  maxFutureMs?: number;
  /** Unsynced beats above which `writable()` holds intake back (default 20,000). */
  maxQueued?: number;
  /** How long a sequence gap holds the beats after it back from the cut, waiting for the late beat, ms (default 10,000). */
  reorderHoldMs?: number;
  /** A beat numbered more than this ahead of its device's highest accepted number is quarantined (default 10,000). */
  maxSeqJump?: number;
}

/**
 * Default of `maxSeqJump`: the largest gap whose numbers are listed one by one (so each beat of it can still come
 * late and be accepted) — about two hours of beats lost in transit between two that arrived.
 */
export const DEFAULT_MAX_SEQ_JUMP = 10_000;

/** Default of `reorderHoldMs`: longer than a broker's redelivery after a reconnect, short against a batch's latency. */
export const DEFAULT_REORDER_HOLD_MS = 10_000;

const stateSchema = z.object({
  segment: z.number().int().min(0),
  nextSeq: z.record(z.string(), z.number().int().min(1)),
  /** Per (patient, epoch) key: highest seq in a committed batch. */
  watermark: z.record(z.string(), z.number().int().min(0)),
  /** Per key: highest seq seen, time of the last accepted beat, seqs never seen below it. */
  high: z.record(z.string(), z.number().int().min(0)).default({}),
  lastT: z.record(z.string(), z.number()).default({}),
  /** Per key: seq of the beat that set lastT (bounds how far ahead the next beat may be). */
  lastS: z.record(z.string(), z.number().int()).default({}),
  missing: z.record(z.string(), z.array(z.number().int())).default({}),
  /** Gap beats too many to list (one gap above MAX_LISTED_GAP), counted only. */
  unlisted: z.number().int().min(0).default(0),
  quarantined: z.number().int().min(0).default(0),
  /** Per patient: time of the last beat in a committed batch; the enclave takes nothing at or before it. */
  cutT: z.record(z.string(), z.number()).default({}),
  /** Cuts committed: names the cut's quarantine file, so a cut replayed after a crash rewrites the same one. */
  cuts: z.number().int().min(0).default(0),
  /** Per key: numbers of quarantined beats a redelivery may still bring (above the watermark, or in a gap) → `t:r`. */
  aside: z.record(z.string(), z.record(z.string(), z.string())).default({}),
});
type SpoolState = z.infer<typeof stateSchema>;

const beatSchema = z.object({
  p: z.string(),
  s: z.number(),
  t: z.number(),
  r: z.number(),
  e: z.number().optional(),
  q: z.enum(['time-step-back', 'time-future', 'time-jump', 'late', 'seq-jump']).optional(),
});
const pendingSchema = z.object({
  patient: z.string(),
  seq: z.number().int(),
  tStartMs: z.number(),
  tEndMs: z.number(),
  beats: z.array(z.object({ t: z.number(), r: z.number(), s: z.number(), e: z.number().optional() })),
});

/** A gap larger than this is counted but its seqs are not listed (a late fill of it is then a duplicate). */
const MAX_LISTED_GAP = 10_000;
/** Quarantined numbers remembered per key (for their redeliveries and the gap count); the oldest go first. */
const MAX_SET_ASIDE = 1_000;

interface Group {
  lines: string[];
  promise: Promise<void>;
  resolve: () => void;
}

interface Segment {
  index: number;
  fd: number;
  /** Bytes written and not given up on; the next group is written at this offset. */
  size: number;
  /** The group fdatasync in flight on this segment. */
  inflight: Promise<void> | undefined;
}

/** Pending file name: patient and zero-padded sequence number, so a sort gives upload order. */
function pendingName(patient: string, seq: number): string {
  return `${patient}.${String(seq).padStart(12, '0')}.json`;
}
const PENDING_NAME = /^(.+)\.(\d{12})\.json$/;
const SEGMENT_NAME = /^seg-(\d+)\.jsonl$/;

/** Dedupe and accounting key: the patient, and its boot epoch when not 0 (so state files from before epochs stay valid). */
function keyOf(b: { p: string; e?: number }): string {
  return b.e ? `${b.p}@${b.e}` : b.p;
}

function deferred(): Group {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { lines: [], promise, resolve };
}

export type AppendOutcome = 'accepted' | 'duplicate' | 'quarantined';

/** A beat waiting for its cut, with the index of the segment that holds it (kept until the beat is cut). */
interface BufferedBeat {
  t: number;
  r: number;
  s: number;
  e?: number;
  g: number;
}

export interface SpoolCounters {
  /** Beats never seen between ones that were, per (patient, epoch), not filled by a late arrival. */
  seq_gaps: number;
  /** Late beats that filled a gap. */
  late_filled: number;
  /** Beats whose epoch is newer than the device's last: a reboot recognised. */
  epoch_restarts: number;
  quarantined: number;
  /** Group or cut writes that failed (each pauses the spool until a retry succeeds). */
  write_failures: number;
  paused: boolean;
}

export class Spool {
  readonly dir: string;
  private readonly segDir: string;
  private readonly pendingDir: string;
  private readonly quarantineDir: string;
  private readonly io: SpoolIo;
  private readonly now: () => number;
  private readonly maxFutureMs: number;
  private readonly maxQueued: number;
  private readonly maxSeqJump: number;
  private state: SpoolState;
  private current!: Segment;
  /** Beats since the last cut, per patient (including beats recovered after a crash and beats held back). */
  private buffers = new Map<string, BufferedBeat[]>();
  /** Quarantined beats since the last cut, with their segment. */
  private quarantine: (SpooledBeat & { g: number })[] = [];
  private readonly reorderHoldMs: number;
  /** Per key: first seq of each listed gap → when it was noticed (epoch ms), for the reorder hold. */
  private gapRuns = new Map<string, Map<number, number>>();
  /** Per patient, the last beat time of the cut in flight (snapshot until its commit): a beat at or before it is late. */
  private passedCutT: Record<string, number> | undefined;
  private seen = new Map<string, Set<number>>();
  private missingSets = new Map<string, Set<number>>();
  /** Highest epoch seen per patient. */
  private epochs = new Map<string, number>();
  /** Per key: the last beat quarantined as a time jump; a later beat consistent with it means the clock stepped for good. */
  private jumps = new Map<string, { t: number; s: number }>();
  /** Per key never accepted from: the last beat quarantined as a seq jump (a device met mid-count; see judgeSeq). */
  private seqJumps = new Map<string, { t: number; s: number }>();
  /**
   * Per key: quarantined numbers → `t:r` of the beat set aside. Only the accounting reads it (a redelivery of the same
   * beat is a duplicate, its number is no gap); a different beat under that number is judged as if it had not come.
   */
  private setAside = new Map<string, Map<number, string>>();
  /** Per patient: the times of its buffered beats (a batch's times must strictly increase). */
  private bufferedTimes = new Map<string, Set<number>>();
  /** The group collecting beats; the group being written and synced. */
  private queued: Group | undefined;
  private writing: Group | undefined;
  private flushScheduled = false;
  private blocked: Error | undefined;
  private retryMs = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private resumeWaiters: (() => void)[] = [];
  private closed = false;
  /** Beats recovered from uncommitted segments at open. */
  readonly recovered: number;
  /** fdatasync calls on segments so far (what group commit economises). */
  syncs = 0;
  private counters = { late_filled: 0, epoch_restarts: 0, write_failures: 0 };
  /** Called when a write fails (the spool pauses) and when a retry succeeds (it resumes). */
  onPause: (err: Error) => void = () => undefined;
  onResume: () => void = () => undefined;

  constructor(dir: string, opts: SpoolOptions = {}) {
    this.dir = dir;
    this.io = opts.io ?? nodeSpoolIo;
    this.now = opts.now ?? Date.now;
    this.maxFutureMs = opts.maxFutureMs ?? 3_600_000;
    this.maxQueued = opts.maxQueued ?? 20_000;
    this.reorderHoldMs = opts.reorderHoldMs ?? DEFAULT_REORDER_HOLD_MS;
    if (!(this.reorderHoldMs >= 0)) throw new HrvaultError('HRV_ERR_CONFIG', `reorderHoldMs must be a non-negative number of ms, got ${this.reorderHoldMs}`);
    this.maxSeqJump = opts.maxSeqJump ?? DEFAULT_MAX_SEQ_JUMP;
    if (!(Number.isSafeInteger(this.maxSeqJump) && this.maxSeqJump >= 1))
      throw new HrvaultError('HRV_ERR_CONFIG', `maxSeqJump must be a positive integer, got ${this.maxSeqJump}`);
    this.segDir = join(dir, 'spool');
    this.pendingDir = join(dir, 'pending');
    this.quarantineDir = join(dir, 'quarantine');
    mkdirSync(this.segDir, { recursive: true });
    mkdirSync(this.pendingDir, { recursive: true });
    mkdirSync(this.quarantineDir, { recursive: true });
    const statePath = join(dir, 'state.json');
    if (existsSync(statePath)) {
      const parsed = stateSchema.safeParse(JSON.parse(readFileSync(statePath, 'utf8')));
      if (!parsed.success)
        throw new HrvaultError(
          'HRV_ERR_SPOOL',
          `gateway state ${statePath} is invalid: ${parsed.error.issues[0]?.message ?? ''}`,
        );
      this.state = parsed.data;
    } else {
      this.state = stateSchema.parse({ segment: 0, nextSeq: {}, watermark: {} });
    }
    for (const [k, entries] of Object.entries(this.state.aside))
      this.setAside.set(k, new Map(Object.entries(entries).map(([s, fp]) => [Number(s), fp])));
    for (const [k, list] of Object.entries(this.state.missing)) {
      this.missingSets.set(k, new Set(list));
      // Gaps found before a restart wait one more hold from now.
      if (list.length > 0) this.gapRuns.set(k, new Map([[Math.min(...list), this.now()]]));
    }
    for (const k of Object.keys(this.state.high)) {
      const at = k.lastIndexOf('@');
      const [p, e] = at < 0 ? [k, 0] : [k.slice(0, at), Number(k.slice(at + 1))];
      this.epochs.set(p, Math.max(this.epochs.get(p) ?? 0, e));
    }
    // A crash inside a cut, after its pending files but before state.json, leaves orphans whose sequence numbers
    // the state never committed. Their beats are still in the uncommitted segments read back below and will be cut
    // again under the same numbers: uploading an orphan first would make that later, larger batch a "replay".
    let orphans = 0;
    for (const name of readdirSync(this.pendingDir)) {
      const m = PENDING_NAME.exec(name);
      if ((m && Number(m[2]) >= (this.state.nextSeq[m[1]!] ?? 1)) || name.includes('.tmp-')) {
        unlinkSync(join(this.pendingDir, name));
        orphans++;
      }
    }
    if (orphans > 0) fsyncDir(this.pendingDir);
    // Every segment at or after the committed index holds beats not yet in a committed batch.
    let recovered = 0;
    let maxIndex = this.state.segment - 1;
    for (const name of readdirSync(this.segDir).sort()) {
      const m = SEGMENT_NAME.exec(name);
      if (!m) continue;
      const index = Number(m[1]);
      if (index < this.state.segment) {
        unlinkSync(join(this.segDir, name));
        continue;
      }
      maxIndex = Math.max(maxIndex, index);
      for (const line of readFileSync(join(this.segDir, name), 'utf8').split('\n')) {
        if (line.length === 0) continue;
        let beat: SpooledBeat;
        try {
          beat = beatSchema.parse(JSON.parse(line));
        } catch {
          // A torn last line from a crash mid-write was never fsync'd, hence never acknowledged: skip it.
          continue;
        }
        // The verdict (quarantine or not) was taken when the beat was first spooled; replay it as written.
        if (this.remember(beat, beat.q ?? null, index) !== 'duplicate') recovered++;
      }
    }
    this.recovered = recovered;
    this.current = this.openSegment(Math.max(maxIndex + 1, this.state.segment));
  }

  private openSegment(index: number): Segment {
    // Not O_APPEND: positional writes, so a retry after a failed write overwrites the partial bytes.
    const fd = openSync(join(this.segDir, `seg-${String(index).padStart(10, '0')}.jsonl`), 'w');
    fsyncDir(this.segDir);
    return { index, fd, size: 0, inflight: undefined };
  }

  private epochOf(b: SpooledBeat): number {
    return b.e ?? 0;
  }

  /**
   * Decides a beat's fate and records it in memory: a duplicate changes nothing; otherwise the beat is buffered
   * for the next batch (or put in quarantine) and the gap accounting updated. `verdict` null = as recorded.
   */
  private remember(b: SpooledBeat, verdict: QuarantineReason | null | undefined, segment: number): AppendOutcome {
    const key = keyOf(b);
    const missing = this.missingSets.get(key);
    const fills = missing?.has(b.s) === true;
    let seen = this.seen.get(key);
    if (!fills && (b.s <= (this.state.watermark[key] ?? 0) || seen?.has(b.s) === true)) return 'duplicate';
    const aside = this.setAside.get(key);
    if (aside?.get(b.s) === `${b.t}:${b.r}`) return 'duplicate';
    if (verdict === undefined) verdict = this.judgeSeq(b, key, fills) ?? this.judgeTime(b, key, fills);
    if (verdict !== null) {
      // Set aside without touching the device's state: if it was forged, the genuine beats after it are judged as
      // if it had never come.
      if (verdict === 'time-jump' && !fills) this.jumps.set(key, { t: b.t, s: b.s });
      if (verdict === 'seq-jump' && (this.state.high[key] ?? 0) === 0) this.seqJumps.set(key, { t: b.t, s: b.s });
      this.noteSetAside(key, b);
      this.quarantine.push({ ...b, q: verdict, g: segment });
      return 'quarantined';
    }
    if (!seen) this.seen.set(key, (seen = new Set()));
    seen.add(b.s);
    const epoch = this.epochOf(b);
    const lastEpoch = this.epochs.get(b.p);
    if (lastEpoch === undefined || epoch > lastEpoch) {
      if (lastEpoch !== undefined) this.counters.epoch_restarts++;
      this.epochs.set(b.p, epoch);
    }
    const high = this.state.high[key] ?? 0;
    if (fills) {
      missing!.delete(b.s);
      if (missing!.size === 0) this.gapRuns.delete(key);
      this.counters.late_filled++;
    } else if (b.s > high + 1) {
      if (b.s - high - 1 > MAX_LISTED_GAP) this.state.unlisted += b.s - high - 1;
      else {
        let m = missing;
        if (!m) this.missingSets.set(key, (m = new Set()));
        let added = 0;
        // A number whose beat was set aside is no gap: it came (its beat is in quarantine).
        for (let s = high + 1; s < b.s; s++) if (aside?.has(s) !== true && m.add(s)) added++;
        if (added > 0) {
          let runs = this.gapRuns.get(key);
          if (!runs) this.gapRuns.set(key, (runs = new Map()));
          runs.set(high + 1, this.now());
        }
      }
    }
    if (b.s > high) this.state.high[key] = b.s;
    if (b.t > (this.state.lastT[key] ?? -Infinity)) {
      this.state.lastT[key] = b.t;
      this.state.lastS[key] = b.s;
    }
    let buf = this.buffers.get(b.p);
    if (!buf) this.buffers.set(b.p, (buf = []));
    buf.push(b.e ? { t: b.t, r: b.r, s: b.s, e: b.e, g: segment } : { t: b.t, r: b.r, s: b.s, g: segment });
    let times = this.bufferedTimes.get(b.p);
    if (!times) this.bufferedTimes.set(b.p, (times = new Set()));
    times.add(b.t);
    return 'accepted';
  }

  /** Remembers a quarantined beat's number and content (bounded per key: the oldest are forgotten first). */
  private noteSetAside(key: string, b: SpooledBeat): void {
    let aside = this.setAside.get(key);
    if (!aside) this.setAside.set(key, (aside = new Map()));
    aside.delete(b.s);
    aside.set(b.s, `${b.t}:${b.r}`);
    if (aside.size > MAX_SET_ASIDE) aside.delete(aside.keys().next().value!);
  }

  /**
   * A number further than `maxSeqJump` ahead of the device's highest accepted one (2^53-1 would make every later
   * genuine beat a "duplicate"). A device never accepted from (a gateway that starts while the device is mid-count,
   * or a device that does not send epochs restarting) is followed once a second beat agrees with the first jump.
   */
  private judgeSeq(b: SpooledBeat, key: string, fills: boolean): QuarantineReason | null {
    const high = this.state.high[key] ?? 0;
    if (fills || b.s - high <= this.maxSeqJump) return null;
    const jump = high === 0 ? this.seqJumps.get(key) : undefined;
    if (jump !== undefined && b.s > jump.s && b.s - jump.s <= this.maxSeqJump && b.t > jump.t) {
      this.seqJumps.delete(key);
      return null;
    }
    return 'seq-jump';
  }

  /**
   * A beat whose time is not after its device's last accepted beat (same epoch; for the first beat of a new epoch,
   * any earlier epoch's), far ahead of our clock, or further ahead of the last accepted beat than the beats between
   * can span (RR_MAX_MS each) plus maxFutureMs — a clock that jumped, caught even when all times lie before our clock
   * (a replay, a backlog). A late beat filling a gap is naturally earlier, but not later than the last accepted beat
   * by more than maxFutureMs, nor earlier than the beats before it can span — and not at or before the last beat of a
   * batch already cut for its patient (`late`: the enclave would refuse its whole file). A beat consistent with the last jump quarantined is
   * accepted: the clock stepped for good, and only the first beat of the step is lost. A beat at the time of one
   * already buffered for its patient is set aside too: a batch's times strictly increase.
   */
  private judgeTime(b: SpooledBeat, key: string, fills: boolean): QuarantineReason | null {
    if (b.t > this.now() + this.maxFutureMs) return 'time-future';
    if (this.bufferedTimes.get(b.p)?.has(b.t) === true) return 'time-step-back';
    const cut = (this.passedCutT ?? this.state.cutT)[b.p];
    const late = cut !== undefined && b.t <= cut;
    if (fills) {
      if (late) return 'late';
      const lastT = this.state.lastT[key];
      if (lastT === undefined) return null;
      // Later than the beats after it: a forged number ahead (in bounds) makes the genuine beats after it fills, so
      // they may pass it by as much as a beat may pass its predecessor (a lead-off), and no further.
      if (b.t >= lastT) return b.t - lastT <= this.maxFutureMs ? null : 'time-jump';
      const between = Math.max(0, (this.state.lastS[key] ?? b.s) - b.s);
      return lastT - b.t > between * RR_MAX_MS + this.maxFutureMs ? 'time-step-back' : null;
    }
    const last = this.state.lastT[key] ?? (this.epochs.has(b.p) ? this.patientLastT(b.p) : undefined);
    if (last === undefined) return late ? 'late' : null;
    if (b.t <= last) return 'time-step-back';
    if (late) return 'late';
    const within = (t: number, s: number): boolean => b.s <= s || b.t - t <= (b.s - s) * RR_MAX_MS + this.maxFutureMs;
    if (within(last, this.state.lastS[key] ?? b.s)) return null;
    const jump = this.jumps.get(key);
    if (jump !== undefined && b.s > jump.s && b.t > jump.t && within(jump.t, jump.s)) {
      this.jumps.delete(key);
      return null;
    }
    return 'time-jump';
  }

  /** The latest accepted beat time of a patient over all its epochs (undefined: none yet). */
  private patientLastT(patient: string): number | undefined {
    let last: number | undefined;
    for (const [key, t] of Object.entries(this.state.lastT))
      if (key === patient || (key.startsWith(`${patient}@`) && !key.slice(patient.length + 1).includes('@'))) last = Math.max(last ?? t, t);
    return last;
  }

  /**
   * Appends a beat; resolves once it is on disk (the fdatasync of its group). A duplicate resolves once everything
   * appended before it is on disk, so acknowledgements keep their order. While the spool is paused the promise waits.
   */
  append(b: SpooledBeat): Promise<AppendOutcome> {
    const outcome = this.remember(b, undefined, this.current.index);
    if (outcome === 'duplicate') return this.barrier().then(() => 'duplicate' as const);
    const rec: SpooledBeat = { p: b.p, s: b.s, t: b.t, r: b.r };
    if (b.e) rec.e = b.e;
    if (outcome === 'quarantined') rec.q = this.quarantine[this.quarantine.length - 1]!.q!;
    const g = (this.queued ??= deferred());
    g.lines.push(`${JSON.stringify(rec)}\n`);
    this.scheduleFlush();
    return g.promise.then(() => outcome);
  }

  /** Resolves once everything appended so far is on disk. */
  barrier(): Promise<void> {
    return (this.queued ?? this.writing)?.promise ?? Promise.resolve();
  }

  /** Resolves when intake may go on: the spool is not paused and not too far behind its fdatasyncs. */
  writable(): Promise<void> | undefined {
    const unsynced = (this.queued?.lines.length ?? 0) + (this.writing?.lines.length ?? 0);
    if (!this.blocked && unsynced < this.maxQueued) return undefined;
    if (!this.blocked) return this.barrier();
    return new Promise((r) => this.resumeWaiters.push(r));
  }

  get paused(): boolean {
    return this.blocked !== undefined;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.writing || this.blocked || this.closed) return;
    this.flushScheduled = true;
    // setImmediate lets every message already parsed from the socket join this group.
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  /** Writes the queued group at the segment's end and fdatasyncs it; on failure pauses and schedules a retry. */
  private async flush(): Promise<void> {
    if (this.writing || !this.queued || this.blocked || this.closed) return;
    const g = (this.writing = this.queued);
    this.queued = undefined;
    const seg = this.current;
    const start = seg.size;
    try {
      this.writeAt(seg, g.lines.join(''));
      const p = new Promise<void>((resolve, reject) => this.io.fdatasync(seg.fd, (err) => (err ? reject(err) : resolve())));
      seg.inflight = p;
      this.syncs++;
      await p;
    } catch (err) {
      // Write the same bytes again at the same offset later: after a failed fdatasync the kernel may have dropped
      // the dirty pages, so only rewriting them from our copy makes them durable.
      if (this.current === seg) seg.size = start;
      this.writing = undefined;
      this.requeue(g);
      this.pause(err);
      return;
    } finally {
      if (seg.inflight !== undefined) seg.inflight = undefined;
    }
    this.writing = undefined;
    g.resolve();
    if (this.queued) this.scheduleFlush();
  }

  private writeAt(seg: Segment, text: string): void {
    const buf = Buffer.from(text);
    let off = 0;
    try {
      while (off < buf.length) off += this.io.write(seg.fd, buf, off, buf.length - off, seg.size + off);
    } catch (err) {
      // Drop the partial bytes (shrinking needs no space); the retry rewrites them at the same offset anyway.
      try {
        ftruncateSync(seg.fd, seg.size);
      } catch {
        // the retry overwrites them
      }
      throw err;
    }
    seg.size += buf.length;
  }

  /** Puts a group that failed back in front of whatever queued since. */
  private requeue(g: Group): void {
    if (this.queued) {
      g.lines.push(...this.queued.lines);
      const later = this.queued;
      void g.promise.then(() => later.resolve());
    }
    this.queued = g;
  }

  private pause(err: unknown): void {
    this.counters.write_failures++;
    const e = err instanceof Error ? err : new Error(String(err));
    const first = this.blocked === undefined;
    this.blocked = e;
    if (first) this.onPause(e);
    this.retryMs = Math.min(2000, this.retryMs === 0 ? 50 : this.retryMs * 2);
    clearTimeout(this.retryTimer);
    if (!this.closed) this.retryTimer = setTimeout(() => this.retry(), this.retryMs);
  }

  private retry(): void {
    this.blocked = undefined;
    if (this.queued) {
      void this.flush().then(() => {
        if (!this.blocked) this.resume();
      });
    } else this.resume();
  }

  private resume(): void {
    this.retryMs = 0;
    this.onResume();
    for (const r of this.resumeWaiters.splice(0)) r();
  }

  /** Beats buffered since the last cut. */
  bufferedBeats(): number {
    let n = 0;
    for (const b of this.buffers.values()) n += b.length;
    return n;
  }

  /** Gap, epoch, quarantine and write-failure counts. */
  counts(): SpoolCounters {
    let gaps = this.state.unlisted;
    for (const [key, m] of this.missingSets) {
      const aside = this.setAside.get(key);
      // A number whose beat came and was quarantined (a late beat with an impossible time) is no gap.
      for (const s of m) if (aside?.has(s) !== true) gaps++;
    }
    return {
      seq_gaps: gaps,
      late_filled: this.counters.late_filled,
      epoch_restarts: this.counters.epoch_restarts,
      quarantined: this.state.quarantined + this.quarantine.length,
      write_failures: this.counters.write_failures,
      paused: this.paused,
    };
  }

  /**
   * Closes the interval: one pending batch per patient with beats, committed durably; returns them. The snapshot
   * and the segment rotation are synchronous, so no beat slips between them; the writes after it run off the event
   * loop (intake goes on into the new segment meanwhile). All or nothing: if a write fails the spool is as before
   * (beats buffered, their segment kept, nothing listed as pending) and the error is thrown. One cut at a time.
   * `releaseHeld` gives every open gap up now (the end of a run: no late beat will come).
   */
  cut(o: { releaseHeld?: boolean } = {}): Promise<PendingBatch[]> {
    const run = this.cutChain.then(() => this.cutOnce(o.releaseHeld === true));
    this.cutChain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private cutChain: Promise<void> = Promise.resolve();

  private async cutOnce(releaseHeld: boolean): Promise<PendingBatch[]> {
    const old = this.current;
    if (this.blocked) throw new HrvaultError('HRV_ERR_SPOOL', `spool paused: ${this.blocked.message}`, { cause: this.blocked });
    // Every remembered beat must be in the old segment before the rotation: write the queued group there now.
    const g = this.queued;
    const before = this.writing;
    if (g) {
      try {
        this.writeAt(old, g.lines.join(''));
      } catch (err) {
        this.pause(err);
        throw new HrvaultError('HRV_ERR_SPOOL', `spool write failed: ${(err as Error).message}`, { cause: err });
      }
      this.queued = undefined;
    }
    let fresh: Segment;
    try {
      fresh = this.openSegment(old.index + 1);
    } catch (err) {
      if (g) this.requeue(g);
      throw new HrvaultError('HRV_ERR_SPOOL', `spool rotation failed: ${(err as Error).message}`, { cause: err });
    }
    this.current = fresh;
    const buffers = this.buffers;
    const quarantine = this.quarantine;
    // Beats after a young gap wait for the next cut (they stay in their segments, which the state keeps).
    const holds = releaseHeld ? new Map<string, { e: number; s: number }>() : this.holdPoints();
    const heldBack = (patient: string, b: { e?: number; s: number }): boolean => {
      const h = holds.get(patient);
      return h !== undefined && ((b.e ?? 0) > h.e || ((b.e ?? 0) === h.e && b.s > h.s));
    };
    this.buffers = new Map();
    const carriedN = new Map<string, number>();
    const cutBeats = new Map<string, BufferedBeat[]>();
    for (const [patient, beats] of buffers) {
      let carried = beats.filter((b) => heldBack(patient, b));
      // The next batch must start after this one ends: a beat of another epoch (or a fill) not behind the gap but
      // later than a beat held back waits with it.
      if (carried.length > 0) {
        let firstHeld = Infinity;
        for (const b of carried) firstHeld = Math.min(firstHeld, b.t);
        carried = beats.filter((b) => heldBack(patient, b) || b.t > firstHeld);
        this.buffers.set(patient, carried);
        carriedN.set(patient, carried.length);
      }
      const held = new Set(carried);
      cutBeats.set(patient, carried.length === 0 ? beats : beats.filter((b) => !held.has(b)));
    }
    this.rebuildBufferedTimes();
    this.quarantine = quarantine.filter((q) => heldBack(q.p, q));
    const carriedQ = this.quarantine.length;
    const cutQuarantine = carriedQ === 0 ? quarantine : quarantine.filter((q) => !heldBack(q.p, q));
    // The oldest segment still holding a beat held back: recovery must read from there.
    let floor = fresh.index;
    for (const beats of this.buffers.values()) for (const b of beats) floor = Math.min(floor, b.g);
    for (const q of this.quarantine) floor = Math.min(floor, q.g);
    // Gap and time accounting as of the snapshot: the beats after it are in the new segment, replayed on recovery.
    const nextState: SpoolState = {
      ...this.state,
      segment: floor,
      nextSeq: { ...this.state.nextSeq },
      watermark: { ...this.state.watermark },
      high: { ...this.state.high },
      lastT: { ...this.state.lastT },
      lastS: { ...this.state.lastS },
      missing: Object.fromEntries([...this.missingSets].filter(([, m]) => m.size > 0).map(([k, m]) => [k, [...m]])),
      quarantined: this.state.quarantined + cutQuarantine.length,
      cutT: { ...this.state.cutT },
      cuts: this.state.cuts + 1,
      aside: {},
    };
    const batches: PendingBatch[] = [];
    for (const [patient, beats] of [...cutBeats.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (beats.length === 0) continue;
      // Time order (the enclave's), not number order: a beat under a foreign epoch sits where its time puts it.
      beats.sort((a, b) => a.t - b.t || (a.e ?? 0) - (b.e ?? 0) || a.s - b.s);
      const seq = nextState.nextSeq[patient] ?? 1;
      nextState.nextSeq[patient] = seq + 1;
      for (const b of beats) {
        const key = keyOf({ p: patient, e: b.e });
        nextState.watermark[key] = Math.max(nextState.watermark[key] ?? 0, b.s);
      }
      const out = beats.map(({ t, r, s, e }) => (e ? { t, r, s, e } : { t, r, s }));
      batches.push({ patient, seq, tStartMs: out[0]!.t - out[0]!.r, tEndMs: out[out.length - 1]!.t, beats: out });
      nextState.cutT[patient] = Math.max(nextState.cutT[patient] ?? -Infinity, out[out.length - 1]!.t);
    }
    // Numbers set aside that a redelivery may still bring: above the new watermark, or still in a gap.
    for (const [key, aside] of this.setAside) {
      const wm = nextState.watermark[key] ?? 0;
      const missing = this.missingSets.get(key);
      const kept = [...aside].filter(([s]) => s > wm || missing?.has(s) === true);
      if (kept.length > 0) nextState.aside[key] = Object.fromEntries(kept.map(([s, fp]) => [String(s), fp]));
    }
    this.passedCutT = nextState.cutT;
    const written: string[] = [];
    let synced = false;
    try {
      await this.sync(old);
      synced = true;
      if (g) {
        // Durable now; acknowledged after the group still in flight before it, so PUBACKs keep their order.
        if (before) void before.promise.then(() => g.resolve());
        else g.resolve();
      }
      await Promise.all(
        batches.map((b) => {
          const file = join(this.pendingDir, pendingName(b.patient, b.seq));
          written.push(file);
          return this.io.writeFileDurable(file, JSON.stringify(b), { syncDir: false });
        }),
      );
      if (cutQuarantine.length > 0) {
        // Named by the cut's number, so a cut replayed after a crash rewrites the same file.
        const file = join(this.quarantineDir, `q-${String(nextState.cuts).padStart(10, '0')}.jsonl`);
        await this.io.writeFileDurable(file, cutQuarantine.map(({ g: _segment, ...q }) => JSON.stringify(q)).join('\n') + '\n');
      }
      await fsyncDirAsync(this.pendingDir);
      failpoint('gateway.cut.after-pending-write');
      await this.io.writeFileDurable(join(this.dir, 'state.json'), JSON.stringify(nextState));
    } catch (err) {
      // Nothing committed: the beats go back to the buffers (they are still in the old segment, which the state
      // still names, or queued again), and the files written are orphans under uncommitted numbers that `pending()`
      // never lists and the next cut overwrites. Beats held back are already in `buffers`; only later arrivals join.
      this.passedCutT = undefined;
      for (const [patient, beats] of this.buffers) {
        const arrivals = beats.slice(carriedN.get(patient) ?? 0);
        if (arrivals.length > 0) (buffers.get(patient) ?? buffers.set(patient, []).get(patient)!).push(...arrivals);
      }
      this.buffers = buffers;
      this.rebuildBufferedTimes();
      this.quarantine = [...quarantine, ...this.quarantine.slice(carriedQ)];
      if (g && !synced) {
        this.requeue(g);
        this.scheduleFlush();
      }
      await Promise.all(written.map((f) => unlink(f).catch(() => undefined)));
      this.counters.write_failures++;
      throw new HrvaultError('HRV_ERR_SPOOL', `batch cut failed: ${(err as Error).message}`, { cause: err });
    }
    // Only what the commit decided; the gap and time accounting in memory has moved on since the snapshot.
    this.state.segment = nextState.segment;
    this.state.nextSeq = nextState.nextSeq;
    this.state.watermark = nextState.watermark;
    this.state.quarantined = nextState.quarantined;
    this.state.cuts = nextState.cuts;
    this.state.cutT = nextState.cutT;
    this.state.aside = nextState.aside;
    this.passedCutT = undefined;
    // Gaps every one of whose seqs a cut has passed no longer hold anything back.
    for (const [key, runs] of this.gapRuns) {
      const wm = this.state.watermark[key] ?? 0;
      if (runs.size > 0 && [...(this.missingSets.get(key) ?? [])].every((m) => m <= wm)) this.gapRuns.delete(key);
    }
    if (this.pendingN !== undefined) this.pendingN += batches.length;
    failpoint('gateway.cut.after-state-commit');
    // Seen-sets are only needed for seqs above the new watermark; numbers set aside also while they count as no gap.
    for (const [key, seen] of this.seen) {
      const wm = nextState.watermark[key] ?? 0;
      for (const s of seen) if (s <= wm) seen.delete(s);
    }
    for (const [key, aside] of this.setAside) {
      const wm = nextState.watermark[key] ?? 0;
      const missing = this.missingSets.get(key);
      for (const s of aside.keys()) if (s <= wm && missing?.has(s) !== true) aside.delete(s);
      if (aside.size === 0) this.setAside.delete(key);
    }
    await old.inflight?.catch(() => undefined);
    closeSync(old.fd);
    for (const name of readdirSync(this.segDir)) {
      const m = SEGMENT_NAME.exec(name);
      if (m && Number(m[1]) < this.state.segment) await unlink(join(this.segDir, name));
    }
    return batches;
  }

  private rebuildBufferedTimes(): void {
    this.bufferedTimes = new Map([...this.buffers].map(([p, beats]) => [p, new Set(beats.map((b) => b.t))]));
  }

  /**
   * Per patient, the (epoch, seq) of its lowest gap that no cut has passed and that is younger than the reorder
   * hold: beats after it (and of later epochs) wait. Gaps older than the hold are given up.
   */
  private holdPoints(): Map<string, { e: number; s: number }> {
    const out = new Map<string, { e: number; s: number }>();
    const now = this.now();
    for (const [key, missing] of this.missingSets) {
      const runs = this.gapRuns.get(key);
      if (missing.size === 0 || runs === undefined) continue;
      const wm = this.state.watermark[key] ?? 0;
      const aside = this.setAside.get(key);
      const starts = [...runs.keys()].sort((a, b) => a - b);
      let lowest: number | undefined;
      for (const m of missing) {
        // A number whose beat came and was quarantined holds nothing back.
        if (m <= wm || aside?.has(m) === true || (lowest !== undefined && m >= lowest)) continue;
        // The gap run m belongs to: the last one starting at or below it.
        let start: number | undefined;
        for (const st of starts) if (st <= m) start = st;
        const noticed = start === undefined ? undefined : runs.get(start);
        if (noticed !== undefined && now - noticed < this.reorderHoldMs) lowest = m;
      }
      if (lowest === undefined) continue;
      const at = key.lastIndexOf('@');
      const [p, e] = at < 0 ? [key, 0] : [key.slice(0, at), Number(key.slice(at + 1))];
      const prev = out.get(p);
      if (prev === undefined || e < prev.e || (e === prev.e && lowest < prev.s)) out.set(p, { e, s: lowest });
    }
    return out;
  }

  /** fdatasync of a whole segment (off the event loop). */
  private async sync(seg: Segment): Promise<void> {
    await new Promise<void>((resolve, reject) => this.io.fdatasync(seg.fd, (err) => (err ? reject(err) : resolve())));
    this.syncs++;
  }

  private pendingNames(): string[] {
    return readdirSync(this.pendingDir).filter((n) => {
      const m = PENDING_NAME.exec(n);
      return m !== null && Number(m[2]) < (this.state.nextSeq[m[1]!] ?? 1);
    });
  }

  private pendingN: number | undefined;

  /** Number of committed pending batches (counted once, then kept up to date). */
  pendingCount(): number {
    return (this.pendingN ??= this.pendingNames().length);
  }

  /** Committed pending batches in upload order (per patient by sequence number); an uncommitted orphan is never listed. */
  pending(): PendingBatch[] {
    return this.pendingNames()
      .sort()
      .map((n) => pendingSchema.parse(JSON.parse(readFileSync(join(this.pendingDir, n), 'utf8'))));
  }

  /** Deletes a pending batch after its upload was confirmed. */
  confirmUploaded(patient: string, seq: number): void {
    unlinkSync(join(this.pendingDir, pendingName(patient, seq)));
    if (this.pendingN !== undefined) this.pendingN--;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    closeSync(this.current.fd);
  }
}
