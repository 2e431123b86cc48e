import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { durableSyncCounts, writeChunksDurable, writeFileDurable } from './durable-file.js';

// Short writes on demand: each writev call then writes at most `limit` bytes, as a write to a pipe or a nearly full
// disk may; every other call is the real one. A writer that loops without progress fails on `calls` instead of
// filling the disk.
const short = vi.hoisted(() => ({ limit: 0, calls: 0 }));
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const writevSync = (fd: number, bufs: readonly NodeJS.ArrayBufferView[], position?: number): number => {
    if (short.limit === 0) return real.writevSync(fd, bufs, position);
    if (++short.calls > 5000) throw new Error('writev called 5,000 times: the writer is not advancing');
    const first = bufs[0]!;
    return real.writevSync(fd, [new Uint8Array(first.buffer, first.byteOffset, Math.min(first.byteLength, short.limit))], position);
  };
  return { ...real, writevSync };
});

const dir = mkdtempSync(join(tmpdir(), 'durable-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  short.limit = 0;
  short.calls = 0;
});

/** 3,000 pieces of 0 to 700 bytes: more than one writev can take (IOV_MAX is 1,024 on Linux), some empty. */
const pieces = Array.from({ length: 3000 }, (_, i) => Buffer.alloc((i * 37) % 701, i & 0xff));

describe('durable file writes', () => {
  it('writes the concatenation of many pieces, durably, with no temp file left', () => {
    const file = join(dir, 'many');
    const before = durableSyncCounts();
    writeChunksDurable(file, pieces);
    expect(readFileSync(file).equals(Buffer.concat(pieces))).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    const after = durableSyncCounts();
    expect([after.file - before.file, after.dir - before.dir]).toEqual([1, 1]);
  });

  it('writes pieces given one at a time by a generator, over several write batches', () => {
    const file = join(dir, 'generated');
    // 1.5-MiB pieces between small ones: the 4-MiB batches end in the middle of the sequence.
    const mixed = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? Buffer.alloc(1_572_864, i + 1) : pieces[i * 7]!));
    function* one(): Generator<Uint8Array> {
      yield* mixed;
    }
    writeChunksDurable(file, one());
    expect(readFileSync(file).equals(Buffer.concat(mixed))).toBe(true);
  });

  it('continues after short writes, within a piece and across pieces', () => {
    const file = join(dir, 'short');
    short.limit = 333;
    writeChunksDurable(file, pieces.slice(0, 200));
    expect(readFileSync(file).equals(Buffer.concat(pieces.slice(0, 200)))).toBe(true);
    writeFileDurable(file, 'one string, written in short pieces as well');
    expect(readFileSync(file, 'utf8')).toBe('one string, written in short pieces as well');
  });
});
