/**
 * The gateway's durable spool. Beats are appended to the current segment file and fdatasync'd before the
 * broker gets its PUBACK; a batch cut rotates the segment, writes one pending batch file per patient
 * (plaintext — the gateway's own disk is inside the trusted edge), commits the per-patient sequence
 * numbers and beat watermarks in an atomically replaced state file, and only then deletes the old segment.
 * Pending files are deleted only after their upload is confirmed. After a crash, every segment not yet
 * committed is read back, so no acknowledged beat is lost and none is counted twice.
 */
import {
  closeSync,
  fdatasyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  unlinkSync,
  writeSync,
  existsSync,
} from 'node:fs';
import { fdatasync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { fsyncDir, writeFileDurable } from '../durable-file.js';
import { HrvaultError } from '../errors.js';

/** One spooled beat (compact field names: the spool is written once per beat). */
export interface SpooledBeat {
  p: string;
  s: number;
  t: number;
  r: number;
}

/** A cut batch waiting for upload: one patient's beats over one interval. */
export interface PendingBatch {
  patient: string;
  seq: number;
  tStartMs: number;
  tEndMs: number;
  beats: { t: number; r: number; s: number }[];
}

const stateSchema = z.object({
  segment: z.number().int().min(0),
  nextSeq: z.record(z.string(), z.number().int().min(1)),
  watermark: z.record(z.string(), z.number().int().min(0)),
});
type SpoolState = z.infer<typeof stateSchema>;

const beatSchema = z.object({ p: z.string(), s: z.number(), t: z.number(), r: z.number() });
const pendingSchema = z.object({
  patient: z.string(),
  seq: z.number().int(),
  tStartMs: z.number(),
  tEndMs: z.number(),
  beats: z.array(z.object({ t: z.number(), r: z.number(), s: z.number() })),
});


interface Segment {
  index: number;
  fd: number;
  syncs: Set<Promise<void>>;
}

/** Pending file name: patient and zero-padded sequence number, so a sort gives upload order. */
function pendingName(patient: string, seq: number): string {
  return `${patient}.${String(seq).padStart(12, '0')}.json`;
}
const PENDING_NAME = /^(.+)\.(\d{12})\.json$/;

export type AppendOutcome = 'accepted' | 'duplicate';

export class Spool {
  readonly dir: string;
  private readonly segDir: string;
  private readonly pendingDir: string;
  private state: SpoolState;
  private current!: Segment;
  /** Beats since the last cut, per patient (including beats recovered after a crash). */
  private buffers = new Map<string, { t: number; r: number; s: number }[]>();
  private seen = new Map<string, Set<number>>();
  /** Beats recovered from uncommitted segments at open. */
  readonly recovered: number;
  /** fdatasync calls on segments so far (what group commit economises). */
  syncs = 0;

  constructor(dir: string) {
    this.dir = dir;
    this.segDir = join(dir, 'spool');
    this.pendingDir = join(dir, 'pending');
    mkdirSync(this.segDir, { recursive: true });
    mkdirSync(this.pendingDir, { recursive: true });
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
      this.state = { segment: 0, nextSeq: {}, watermark: {} };
    }
    // A crash inside a cut, after its pending files but before state.json, leaves orphans whose sequence numbers
    // the state never committed. Their beats are still in the uncommitted segments read back below and will be cut
    // again under the same numbers: uploading an orphan first would make that later, larger batch a "replay".
    let orphans = 0;
    for (const name of readdirSync(this.pendingDir)) {
      const m = PENDING_NAME.exec(name);
      if (m && Number(m[2]) >= (this.state.nextSeq[m[1]!] ?? 1)) {
        unlinkSync(join(this.pendingDir, name));
        orphans++;
      }
    }
    if (orphans > 0) fsyncDir(this.pendingDir);
    // Every segment at or after the committed index holds beats not yet in a committed batch.
    let recovered = 0;
    let maxIndex = this.state.segment - 1;
    for (const name of readdirSync(this.segDir).sort()) {
      const m = /^seg-(\d+)\.jsonl$/.exec(name);
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
        if (this.remember(beat)) recovered++;
      }
    }
    this.recovered = recovered;
    this.current = this.openSegment(Math.max(maxIndex + 1, this.state.segment));
  }

  private openSegment(index: number): Segment {
    const fd = openSync(join(this.segDir, `seg-${String(index).padStart(10, '0')}.jsonl`), 'a');
    fsyncDir(this.segDir);
    return { index, fd, syncs: new Set() };
  }

  /** True (and buffered) when the beat is new; false for a duplicate of one already spooled or committed. */
  private remember(b: SpooledBeat): boolean {
    if (b.s <= (this.state.watermark[b.p] ?? 0)) return false;
    let seen = this.seen.get(b.p);
    if (!seen) this.seen.set(b.p, (seen = new Set()));
    if (seen.has(b.s)) return false;
    seen.add(b.s);
    let buf = this.buffers.get(b.p);
    if (!buf) this.buffers.set(b.p, (buf = []));
    buf.push({ t: b.t, r: b.r, s: b.s });
    return true;
  }

  /** Appends a beat; resolves once it is on disk (fdatasync). Duplicates resolve at once without writing. */
  append(b: SpooledBeat): Promise<AppendOutcome> {
    if (!this.remember(b)) return Promise.resolve('duplicate');
    const seg = this.current;
    writeSync(seg.fd, `${JSON.stringify(b)}\n`);
    this.syncs++;
    const p = new Promise<void>((resolve, reject) =>
      fdatasync(seg.fd, (err) => (err ? reject(err) : resolve())),
    );
    seg.syncs.add(p);
    return p.then(
      () => {
        seg.syncs.delete(p);
        return 'accepted' as const;
      },
      (err: unknown) => {
        seg.syncs.delete(p);
        throw new HrvaultError(
          'HRV_ERR_SPOOL',
          `spool write failed: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      },
    );
  }

  /** Beats buffered since the last cut. */
  bufferedBeats(): number {
    let n = 0;
    for (const b of this.buffers.values()) n += b.length;
    return n;
  }

  /**
   * Closes the interval: one pending batch per patient with beats, committed durably; returns them.
   * Synchronous up to the final close so that no beat can slip between the snapshot and the rotation.
   */
  async cut(): Promise<PendingBatch[]> {
    const old = this.current;
    const buffers = this.buffers;
    fdatasyncSync(old.fd);
    this.current = this.openSegment(old.index + 1);
    this.buffers = new Map();
    const batches: PendingBatch[] = [];
    const nextState: SpoolState = {
      segment: this.current.index,
      nextSeq: { ...this.state.nextSeq },
      watermark: { ...this.state.watermark },
    };
    for (const [patient, beats] of [...buffers.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (beats.length === 0) continue;
      beats.sort((a, b) => a.s - b.s);
      const seq = nextState.nextSeq[patient] ?? 1;
      nextState.nextSeq[patient] = seq + 1;
      nextState.watermark[patient] = Math.max(nextState.watermark[patient] ?? 0, beats[beats.length - 1]!.s);
      const batch: PendingBatch = {
        patient,
        seq,
        tStartMs: beats[0]!.t - beats[0]!.r,
        tEndMs: beats[beats.length - 1]!.t,
        beats,
      };
      writeFileDurable(join(this.pendingDir, pendingName(patient, seq)), JSON.stringify(batch), { syncDir: false });
      batches.push(batch);
    }
    fsyncDir(this.pendingDir);
    writeFileDurable(join(this.dir, 'state.json'), JSON.stringify(nextState));
    this.state = nextState;
    // Seen-sets are only needed for seqs above the new watermark.
    for (const [patient, seen] of this.seen) {
      const wm = nextState.watermark[patient] ?? 0;
      for (const s of seen) if (s <= wm) seen.delete(s);
    }
    await Promise.allSettled([...old.syncs]);
    closeSync(old.fd);
    for (const name of readdirSync(this.segDir)) {
      const m = /^seg-(\d+)\.jsonl$/.exec(name);
      if (m && Number(m[1]) < this.current.index) unlinkSync(join(this.segDir, name));
    }
    return batches;
  }

  /** Pending batches in upload order (per patient by sequence number). */
  pending(): PendingBatch[] {
    return readdirSync(this.pendingDir)
      .filter((n) => n.endsWith('.json'))
      .sort()
      .map((n) => pendingSchema.parse(JSON.parse(readFileSync(join(this.pendingDir, n), 'utf8'))));
  }

  /** Deletes a pending batch after its upload was confirmed. */
  confirmUploaded(patient: string, seq: number): void {
    unlinkSync(join(this.pendingDir, pendingName(patient, seq)));
  }

  close(): void {
    closeSync(this.current.fd);
  }
}
