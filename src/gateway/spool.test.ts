import { mkdtempSync, readdirSync, appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Spool, nodeSpoolIo, type PendingBatch, type SpooledBeat, type SpoolIo } from './spool.js';

const dir = (): string => mkdtempSync(join(tmpdir(), 'hrv-spool-'));

describe('Spool', () => {
  it('cuts one numbered batch per patient and drops duplicates', async () => {
    const d = dir();
    const s = new Spool(d);
    expect(await s.append({ p: 'A', s: 1, t: 1000, r: 1000 })).toBe('accepted');
    expect(await s.append({ p: 'A', s: 2, t: 1800, r: 800 })).toBe('accepted');
    expect(await s.append({ p: 'A', s: 2, t: 1800, r: 800 })).toBe('duplicate');
    expect(await s.append({ p: 'B', s: 1, t: 900, r: 900 })).toBe('accepted');
    const first = await s.cut();
    expect(first.map((b) => [b.patient, b.seq, b.beats.length])).toEqual([
      ['A', 1, 2],
      ['B', 1, 1],
    ]);
    expect(first[0]!.tStartMs).toBe(0);
    expect(first[0]!.tEndMs).toBe(1800);
    // A redelivery of a beat already in a committed batch is still a duplicate.
    expect(await s.append({ p: 'A', s: 1, t: 1000, r: 1000 })).toBe('duplicate');
    await s.append({ p: 'A', s: 3, t: 2600, r: 800 });
    const second = await s.cut();
    expect(second.map((b) => [b.patient, b.seq])).toEqual([['A', 2]]);
    expect(s.pending().map((b) => `${b.patient}${b.seq}`)).toEqual(['A1', 'A2', 'B1']);
    s.confirmUploaded('A', 1);
    expect(s.pending().map((b) => `${b.patient}${b.seq}`)).toEqual(['A2', 'B1']);
    s.close();
  });

  it('after a crash recovers acknowledged beats once, skips a torn line, and keeps numbering', async () => {
    const d = dir();
    const s = new Spool(d);
    await s.append({ p: 'A', s: 1, t: 1000, r: 1000 });
    await s.cut();
    await s.append({ p: 'A', s: 2, t: 1800, r: 800 });
    await s.append({ p: 'A', s: 3, t: 2600, r: 800 });
    // Crash: no close, a half-written line at the end of the segment.
    const seg = readdirSync(join(d, 'spool')).sort().at(-1)!;
    appendFileSync(join(d, 'spool', seg), '{"p":"A","s":4,');
    const r = new Spool(d);
    expect(r.recovered).toBe(2);
    expect(await r.append({ p: 'A', s: 3, t: 2600, r: 800 })).toBe('duplicate');
    expect(await r.append({ p: 'A', s: 4, t: 3400, r: 800 })).toBe('accepted');
    const batches = await r.cut();
    expect(batches).toHaveLength(1);
    expect(batches[0]!.seq).toBe(2);
    expect(batches[0]!.beats.map((b) => b.s)).toEqual([2, 3, 4]);
    expect(readdirSync(join(d, 'spool'))).toHaveLength(1);
    r.close();
  });

  it('killed mid-cut (pending files written, state not committed): the orphans are dropped and their beats cut again under the same numbers', async () => {
    const d = dir();
    const s = new Spool(d);
    await s.append({ p: 'A', s: 1, t: 1000, r: 1000 });
    await s.cut();
    await s.append({ p: 'A', s: 2, t: 1800, r: 800 });
    await s.append({ p: 'B', s: 1, t: 1900, r: 900 });
    // The instant of the crash: the cut wrote its pending files, state.json still names the old segment.
    const committedState = readFileSync(join(d, 'state.json'));
    const segs = readdirSync(join(d, 'spool')).sort();
    const segBytes = segs.map((n) => readFileSync(join(d, 'spool', n)));
    await s.cut();
    writeFileSync(join(d, 'state.json'), committedState);
    segs.forEach((n, i) => writeFileSync(join(d, 'spool', n), segBytes[i]!));
    expect(s.pending().map((b) => `${b.patient}#${b.seq}`)).toEqual(['A#1', 'A#2', 'B#1']);
    // Restart: only committed batches are pending; the orphans' beats come back from the segment.
    const r = new Spool(d);
    expect(r.pending().map((b) => `${b.patient}#${b.seq}`)).toEqual(['A#1']);
    expect(r.recovered).toBe(2);
    await r.append({ p: 'A', s: 3, t: 2600, r: 800 });
    const batches = await r.cut();
    expect(batches.map((b) => `${b.patient}#${b.seq}:${b.beats.map((x) => x.s).join(',')}`).sort()).toEqual(['A#2:2,3', 'B#1:1']);
    r.close();
  });
});

/** Node's fs, with a switch that makes every write fail as a full disk does. */
function fillableIo(): SpoolIo & { full: boolean; heldSyncs: (() => void)[]; holdSyncs: boolean } {
  const enospc = (): Error => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const io = {
    full: false,
    holdSyncs: false,
    heldSyncs: [] as (() => void)[],
    write: (fd: number, buf: Buffer, off: number, len: number, pos: number): number => {
      if (io.full) throw enospc();
      return nodeSpoolIo.write(fd, buf, off, len, pos);
    },
    fdatasync: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void => {
      if (io.holdSyncs) io.heldSyncs.push(() => nodeSpoolIo.fdatasync(fd, cb));
      else nodeSpoolIo.fdatasync(fd, cb);
    },
    writeFileDurable: async (file: string, data: string, opts?: { syncDir?: boolean }): Promise<void> => {
      if (io.full) throw enospc();
      await nodeSpoolIo.writeFileDurable(file, data, opts);
    },
  };
  return io;
}

const beat = (p: string, s: number, e?: number): SpooledBeat => ({ p, s, t: 1_000_000 + s * 800, r: 800, ...(e ? { e } : {}) });
const ids = (batches: PendingBatch[]): string[] =>
  batches.flatMap((b) => b.beats.map((x) => `${b.patient}${x.e ? `@${x.e}` : ''}:${x.s}`)).sort();

describe('Spool group commit', () => {
  it('makes a burst of beats durable with a handful of fdatasyncs, not one per beat', async () => {
    const s = new Spool(dir());
    const outcomes = await Promise.all(Array.from({ length: 1000 }, (_, i) => s.append(beat(`P${i % 10}`, Math.floor(i / 10) + 1))));
    expect(outcomes.every((o) => o === 'accepted')).toBe(true);
    expect(s.syncs).toBeLessThanOrEqual(10);
    expect(ids(await s.cut())).toHaveLength(1000);
    s.close();
  });

  it('resolves no append before the fdatasync that covers it', async () => {
    const io = fillableIo();
    io.holdSyncs = true;
    const s = new Spool(dir(), { io });
    let done = 0;
    const all = [1, 2, 3].map((i) => s.append(beat('A', i)).then(() => void done++));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(io.heldSyncs).toHaveLength(1);
    expect(done).toBe(0);
    io.holdSyncs = false;
    io.heldSyncs.splice(0).forEach((f) => f());
    await Promise.all(all);
    expect(done).toBe(3);
    s.close();
  });
});

describe('Spool acknowledgement order', () => {
  it('a cut that syncs a later group first still resolves the earlier group first', async () => {
    const io = fillableIo();
    io.holdSyncs = true;
    const s = new Spool(dir(), { io });
    const order: number[] = [];
    const first = s.append(beat('A', 1)).then(() => void order.push(1));
    await expect.poll(() => io.heldSyncs.length).toBe(1);
    const second = s.append(beat('A', 2)).then(() => void order.push(2));
    const cut = s.cut();
    await expect.poll(() => io.heldSyncs.length).toBe(2);
    io.holdSyncs = false;
    // The cut's fdatasync (covering both) returns before the first group's own.
    io.heldSyncs[1]!();
    await new Promise((r) => setImmediate(r));
    io.heldSyncs[0]!();
    await Promise.all([first, second, cut]);
    expect(order).toEqual([1, 2]);
    s.close();
  });
});

describe('Spool on a full disk', () => {
  it('pauses without acknowledging, keeps every beat, and resumes by itself when space frees', async () => {
    const io = fillableIo();
    const d = dir();
    const s = new Spool(d, { io });
    let paused = 0;
    let resumed!: () => void;
    const resumedP = new Promise<void>((r) => (resumed = r));
    s.onPause = () => void paused++;
    s.onResume = () => resumed();
    await s.append(beat('A', 1));
    io.full = true;
    let acked = 0;
    const late = [2, 3].map((i) => s.append(beat('A', i)).then(() => void acked++));
    await expect.poll(() => s.paused).toBe(true);
    expect(acked).toBe(0);
    // A cut while full changes nothing.
    await expect(s.cut()).rejects.toThrow(/ENOSPC/);
    expect(s.pending()).toEqual([]);
    io.full = false;
    await resumedP;
    await Promise.all(late);
    expect(acked).toBe(2);
    expect(paused).toBe(1);
    expect(ids(await s.cut())).toEqual(['A:1', 'A:2', 'A:3']);
    expect(ids(s.pending())).toEqual(['A:1', 'A:2', 'A:3']);
    s.close();
  });

  it('a cut whose pending or state write fails keeps its beats and their segment; the next cut has each once, also after a restart', async () => {
    const io = fillableIo();
    const d = dir();
    const s = new Spool(d, { io });
    await s.append(beat('A', 1));
    await s.append(beat('B', 1));
    const real = io.writeFileDurable;
    let calls = 0;
    // Full exactly when the state file is written: the pending files went out, the commit did not.
    io.writeFileDurable = async (file, data, opts) => {
      if (file.endsWith('state.json') && calls++ === 0) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      await real(file, data, opts);
    };
    await expect(s.cut()).rejects.toThrow(/ENOSPC/);
    expect(s.pending()).toEqual([]);
    await s.append(beat('A', 2));
    // A crash now: the restarted spool still finds every acknowledged beat.
    const r = new Spool(d);
    expect(r.recovered).toBe(3);
    r.close();
    expect(ids(await s.cut())).toEqual(['A:1', 'A:2', 'B:1']);
    expect(ids(s.pending())).toEqual(['A:1', 'A:2', 'B:1']);
    s.close();
    const again = new Spool(d);
    expect(again.recovered).toBe(0);
    expect(ids(again.pending())).toEqual(['A:1', 'A:2', 'B:1']);
    again.close();
  });
});

describe('Spool edge accounting', () => {
  it('takes a sequence restart under a new boot epoch, and counts one without an epoch as duplicates', async () => {
    const s = new Spool(dir());
    await s.append(beat('A', 1));
    await s.append(beat('A', 2));
    expect(await s.append({ ...beat('A', 1), t: 5_000_000 })).toBe('duplicate');
    expect(await s.append({ ...beat('A', 1, 7), t: 5_000_000 })).toBe('accepted');
    expect(await s.append({ ...beat('A', 2, 7), t: 5_000_800 })).toBe('accepted');
    expect(s.counts().epoch_restarts).toBe(1);
    expect(ids(await s.cut())).toEqual(['A:1', 'A:2', 'A@7:1', 'A@7:2']);
    expect(await s.append({ ...beat('A', 2, 7), t: 5_000_800 })).toBe('duplicate');
    s.close();
  });

  it('counts sequence gaps and accepts a late beat that fills one', async () => {
    const s = new Spool(dir());
    for (const i of [1, 2, 5]) await s.append(beat('A', i));
    expect(s.counts().seq_gaps).toBe(2);
    expect(await s.append(beat('A', 3))).toBe('accepted');
    expect(await s.append(beat('A', 3))).toBe('duplicate');
    expect(s.counts()).toMatchObject({ seq_gaps: 1, late_filled: 1 });
    s.close();
  });
});

/** The enclave refuses a file whose first beat is not after the patient's last accepted beat: every cut batch must start after the one before. */
function expectTimeOrdered(batches: PendingBatch[]): void {
  const last = new Map<string, number>();
  for (const b of [...batches].sort((x, y) => x.seq - y.seq)) {
    const times = b.beats.map((x) => x.t);
    for (let i = 1; i < times.length; i++) expect(times[i], `${b.patient} batch ${b.seq} beat ${i}`).toBeGreaterThan(times[i - 1]!);
    expect(times[0], `${b.patient} batch ${b.seq} starts after batch ${b.seq - 1}`).toBeGreaterThan(last.get(b.patient) ?? -Infinity);
    last.set(b.patient, times[times.length - 1]!);
  }
}

describe('Spool reordering (a broker redelivers a beat after its successors)', () => {
  it('holds the beats after a young gap back from the cut, so the late beat joins them in order', async () => {
    let now = 5_000_000;
    const s = new Spool(dir(), { now: () => now, reorderHoldMs: 2_000 });
    for (const i of [1, 2, 5, 6]) await s.append(beat('A', i));
    await s.append(beat('B', 1));
    const first = await s.cut();
    expect(ids(first)).toEqual(['A:1', 'A:2', 'B:1']);
    now += 500;
    for (const i of [4, 3]) expect(await s.append(beat('A', i))).toBe('accepted');
    const second = await s.cut();
    expect(ids(second)).toEqual(['A:3', 'A:4', 'A:5', 'A:6']);
    expectTimeOrdered([...first, ...second]);
    expect(s.counts()).toMatchObject({ seq_gaps: 0, late_filled: 2, quarantined: 0 });
    s.close();
  });

  it('gives a gap up after the hold: the beats after it are cut, and the late beat is quarantined alone, not its batch', async () => {
    let now = 5_000_000;
    const d = dir();
    const s = new Spool(d, { now: () => now, reorderHoldMs: 2_000 });
    for (const i of [1, 2, 5]) await s.append(beat('A', i));
    expect(ids(await s.cut())).toEqual(['A:1', 'A:2']);
    now += 2_500;
    const passed = await s.cut();
    expect(ids(passed)).toEqual(['A:5']);
    expect(await s.append(beat('A', 3))).toBe('quarantined');
    expect(await s.append(beat('A', 6))).toBe('accepted');
    const after = await s.cut();
    expect(ids(after)).toEqual(['A:6']);
    expectTimeOrdered(s.pending());
    expect(s.counts()).toMatchObject({ seq_gaps: 1, quarantined: 1 });
    const q = readdirSync(join(d, 'quarantine'));
    expect(q.flatMap((f) => readFileSync(join(d, 'quarantine', f), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as SpooledBeat))).toEqual([
      { ...beat('A', 3), q: 'late' },
    ]);
    s.close();
  });

  it('after a crash, beats held back are read again from their segment: none lost, none twice', async () => {
    const d = dir();
    const now = 5_000_000;
    const s = new Spool(d, { now: () => now, reorderHoldMs: 60_000 });
    for (const i of [1, 2, 5, 6]) await s.append(beat('A', i));
    expect(ids(await s.cut())).toEqual(['A:1', 'A:2']);
    await s.append(beat('A', 7));
    expect(ids(await s.cut())).toEqual([]);
    // Killed here (no close): 5, 6 and 7 were acknowledged and are in two segments the state still names.
    const again = new Spool(d, { now: () => now, reorderHoldMs: 60_000 });
    expect(again.recovered).toBe(3);
    for (const i of [3, 4]) expect(await again.append(beat('A', i))).toBe('accepted');
    expect(await again.append(beat('A', 5))).toBe('duplicate');
    expect(ids(await again.cut())).toEqual(['A:3', 'A:4', 'A:5', 'A:6', 'A:7']);
    expectTimeOrdered(again.pending());
    again.close();
    // And once cut, a restart finds nothing more.
    const third = new Spool(d, { now: () => now, reorderHoldMs: 60_000 });
    expect(third.recovered).toBe(0);
    expect(ids(await third.cut())).toEqual([]);
    third.close();
  });

  it('a beat of an older epoch redelivered after the newer epoch was cut is late, not a poisoned batch', async () => {
    const s = new Spool(dir(), { now: () => 5_000_000 });
    await s.append(beat('A', 1));
    await s.append({ ...beat('A', 1, 7), t: 3_000_000 });
    expect(ids(await s.cut())).toEqual(['A:1', 'A@7:1']);
    expect(await s.append(beat('A', 2))).toBe('quarantined');
    // A reboot whose clock went back: its first beat steps back against the older epoch's last beat.
    expect(await s.append({ ...beat('A', 1, 9), t: 2_000_000 })).toBe('quarantined');
    expect(await s.append({ ...beat('A', 2, 9), t: 3_000_800 })).toBe('accepted');
    expectTimeOrdered([...s.pending(), ...(await s.cut())]);
    s.close();
  });
});

describe('Spool time quarantine', () => {
  it('quarantines a beat stepping back or far in the future on its own; its neighbours are batched', async () => {
    const d = dir();
    const s = new Spool(d, { now: () => 2_000_000, maxFutureMs: 60_000 });
    expect(await s.append(beat('A', 1))).toBe('accepted');
    expect(await s.append({ ...beat('A', 2), t: 500 })).toBe('quarantined');
    expect(await s.append({ ...beat('A', 3), t: 2_000_000 + 86_400_000 })).toBe('quarantined');
    expect(await s.append(beat('A', 4))).toBe('accepted');
    expect(await s.append({ ...beat('A', 3), t: 2_000_000 + 86_400_000 })).toBe('duplicate');
    expect(s.counts()).toMatchObject({ quarantined: 2, seq_gaps: 0 });
    expect(ids(await s.cut())).toEqual(['A:1', 'A:4']);
    const q = readdirSync(join(d, 'quarantine'));
    expect(q).toHaveLength(1);
    expect(readFileSync(join(d, 'quarantine', q[0]!), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as SpooledBeat).q)).toEqual([
      'time-step-back',
      'time-future',
    ]);
    s.close();
    expect(new Spool(d).counts().quarantined).toBe(2);
  });

  it('quarantines a beat jumping ahead of its predecessor alone, even when the gateway clock is later still (issue 8: +24 h blacked the patient out)', async () => {
    const d = dir();
    // Beats replayed from a day long past: "ahead of the gateway's clock" cannot catch the jump.
    const s = new Spool(d, { now: () => 1_000_000 + 30 * 86_400_000, maxFutureMs: 3_600_000 });
    expect(await s.append(beat('A', 1))).toBe('accepted');
    expect(await s.append({ ...beat('A', 2), t: beat('A', 2).t + 86_400_000 })).toBe('quarantined');
    for (let i = 3; i <= 6; i++) expect(await s.append(beat('A', i))).toBe('accepted');
    // Lead-off for 20 minutes: one beat later by far more than its interval, within maxFutureMs: accepted.
    expect(await s.append({ ...beat('A', 7), t: beat('A', 7).t + 1_200_000 })).toBe('accepted');
    expect(s.counts()).toMatchObject({ quarantined: 1 });
    expect(ids(await s.cut())).toEqual(['A:1', 'A:3', 'A:4', 'A:5', 'A:6', 'A:7']);
    s.close();
    // The previous beat's time and number are committed with the cut: a restarted gateway still sees a jump.
    const again = new Spool(d, { now: () => 1_000_000 + 30 * 86_400_000, maxFutureMs: 3_600_000 });
    expect(await again.append({ ...beat('A', 8), t: beat('A', 8).t + 1_200_000 + 86_400_000 })).toBe('quarantined');
    expect(await again.append({ ...beat('A', 9), t: beat('A', 9).t + 1_200_000 })).toBe('accepted');
    again.close();
  });

  it('follows a clock that stepped forward for good after quarantining the first beat of the step', async () => {
    const d = dir();
    const s = new Spool(d, { now: () => 1_000_000 + 30 * 86_400_000, maxFutureMs: 3_600_000 });
    const step = 7_200_000;
    expect(await s.append(beat('A', 1))).toBe('accepted');
    expect(await s.append({ ...beat('A', 2), t: beat('A', 2).t + step })).toBe('quarantined');
    for (let i = 3; i <= 5; i++) expect(await s.append({ ...beat('A', i), t: beat('A', i).t + step })).toBe('accepted');
    expect(s.counts()).toMatchObject({ quarantined: 1 });
    s.close();
  });
});

describe('Spool against forged beats (issue 9 item 9: one forged beat must not silence a patient)', () => {
  it('quarantines a beat with seq 2^53-1 alone; it moves no watermark, and every genuine beat after it is accepted and cut, also after a restart', async () => {
    const d = dir();
    const opts = { now: () => 5_000_000 };
    const s = new Spool(d, opts);
    for (let i = 1; i <= 3; i++) expect(await s.append(beat('A', i))).toBe('accepted');
    // A plausible time, an impossible number: the watermark would jump to the end of the integers.
    expect(await s.append({ ...beat('A', 4), s: Number.MAX_SAFE_INTEGER })).toBe('quarantined');
    for (let i = 4; i <= 6; i++) expect(await s.append(beat('A', i))).toBe('accepted');
    expect(ids(await s.cut())).toEqual(['A:1', 'A:2', 'A:3', 'A:4', 'A:5', 'A:6']);
    for (let i = 7; i <= 8; i++) expect(await s.append(beat('A', i))).toBe('accepted');
    expect(ids(await s.cut())).toEqual(['A:7', 'A:8']);
    s.close();
    const again = new Spool(d, opts);
    expect(await again.append(beat('A', 9))).toBe('accepted');
    expect(ids(await again.cut())).toEqual(['A:9']);
    expect(again.counts()).toMatchObject({ quarantined: 1, seq_gaps: 0 });
    again.close();
  });

  it('a beat with seq 2^53-1 and t_ms 1, quarantined for its time, still moves no watermark at the cut', async () => {
    const s = new Spool(dir(), { now: () => 5_000_000 });
    for (let i = 1; i <= 3; i++) await s.append(beat('A', i));
    expect(await s.append({ ...beat('A', 4), s: Number.MAX_SAFE_INTEGER, t: 1 })).toBe('quarantined');
    expect(ids(await s.cut())).toEqual(['A:1', 'A:2', 'A:3']);
    for (let i = 4; i <= 6; i++) expect(await s.append(beat('A', i))).toBe('accepted');
    expect(ids(await s.cut())).toEqual(['A:4', 'A:5', 'A:6']);
    s.close();
  });

  it('quarantines a beat at t_ms 1 filling a sequence gap alone; the genuine beat fills it and the batch stays complete and time-ordered', async () => {
    // These beats lie only ~1,000 s after t = 1: a one-minute lead-off allowance keeps t = 1 "far before" them (the
    // gateway intake test has real times and the default allowance).
    const s = new Spool(dir(), { now: () => 5_000_000, reorderHoldMs: 60_000, maxFutureMs: 60_000 });
    for (const i of [1, 2, 4, 5]) expect(await s.append(beat('A', i))).toBe('accepted');
    expect(await s.append({ ...beat('A', 3), t: 1 })).toBe('quarantined');
    expect(await s.append(beat('A', 3))).toBe('accepted');
    for (const i of [6, 7]) expect(await s.append(beat('A', i))).toBe('accepted');
    const batches = await s.cut();
    expect(ids(batches)).toEqual(['A:1', 'A:2', 'A:3', 'A:4', 'A:5', 'A:6', 'A:7']);
    expectTimeOrdered(batches);
    expect(s.counts()).toMatchObject({ quarantined: 1, seq_gaps: 0 });
    s.close();
  });

  it('quarantines a gap-filling beat later than the beats after it by more than the lead-off allowance alone: no later cut calls the genuine stream late', async () => {
    const s = new Spool(dir(), { now: () => 5_000_000 + 3_600_000, reorderHoldMs: 60_000, maxFutureMs: 60_000 });
    for (const i of [1, 2, 4, 5]) await s.append(beat('A', i));
    // Half an hour ahead of beat 5, still before the gateway's clock: as a batch's last beat it would make the
    // next half hour of genuine beats "late".
    expect(await s.append({ ...beat('A', 3), t: beat('A', 5).t + 1_800_000 })).toBe('quarantined');
    expect(await s.append(beat('A', 3))).toBe('accepted');
    expectTimeOrdered(await s.cut());
    for (const i of [6, 7]) expect(await s.append(beat('A', i))).toBe('accepted');
    expect(ids(await s.cut())).toEqual(['A:6', 'A:7']);
    s.close();
  });

  it('a forged number ahead within maxSeqJump leaves the genuine beats after it accepted (as fills) and every batch time-ordered', async () => {
    let now = 5_000_000;
    const s = new Spool(dir(), { now: () => now, reorderHoldMs: 2_000 });
    for (let i = 1; i <= 3; i++) await s.append(beat('A', i));
    expect(await s.append({ ...beat('A', 4), s: 5_003, t: beat('A', 3).t + 300 })).toBe('accepted');
    for (let i = 4; i <= 10; i++) expect(await s.append(beat('A', i))).toBe('accepted');
    now += 2_500;
    const first = await s.cut();
    expect(ids(first).filter((x) => x !== 'A:5003')).toEqual(['A:1', 'A:10', 'A:2', 'A:3', 'A:4', 'A:5', 'A:6', 'A:7', 'A:8', 'A:9']);
    for (let i = 11; i <= 12; i++) expect(await s.append(beat('A', i))).toBe('accepted');
    const second = await s.cut();
    expect(ids(second)).toEqual(['A:11', 'A:12']);
    expectTimeOrdered([...first, ...second]);
    s.close();
  });

  it('a forged beat under another boot epoch cannot break the time order of the batch it joins', async () => {
    const s = new Spool(dir(), { now: () => 5_000_000 });
    for (let i = 1; i <= 3; i++) await s.append(beat('A', i));
    await s.append({ ...beat('A', 1, Number.MAX_SAFE_INTEGER), t: beat('A', 3).t + 300 });
    for (let i = 4; i <= 6; i++) expect(await s.append(beat('A', i))).toBe('accepted');
    const batches = await s.cut();
    expect(ids(batches).filter((x) => !x.includes('@'))).toEqual(['A:1', 'A:2', 'A:3', 'A:4', 'A:5', 'A:6']);
    expectTimeOrdered(batches);
    s.close();
  });
});

describe('Spool: forged beats across a crash', () => {
  it('a forged beat set aside stays set aside after a restart (its redelivery is a duplicate) and still moves nothing', async () => {
    const d = dir();
    const opts = { now: () => 5_000_000 };
    const s = new Spool(d, opts);
    for (let i = 1; i <= 3; i++) await s.append(beat('A', i));
    const forged = { ...beat('A', 4), s: Number.MAX_SAFE_INTEGER };
    expect(await s.append(forged)).toBe('quarantined');
    // Killed before any cut: the forged beat is in the segment with its verdict.
    const afterCrash = new Spool(d, opts);
    expect(await afterCrash.append(forged)).toBe('duplicate');
    expect(await afterCrash.append(beat('A', 4))).toBe('accepted');
    expect(ids(await afterCrash.cut())).toEqual(['A:1', 'A:2', 'A:3', 'A:4']);
    afterCrash.close();
    // After a cut and a restart, the redelivered forged beat is still a duplicate, and the stream goes on.
    const again = new Spool(d, opts);
    expect(await again.append(forged)).toBe('duplicate');
    expect(await again.append(beat('A', 5))).toBe('accepted');
    expect(again.counts()).toMatchObject({ quarantined: 1, seq_gaps: 0 });
    again.close();
  });
});
