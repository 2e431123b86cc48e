import { mkdtempSync, readdirSync, appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Spool } from './spool.js';

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
