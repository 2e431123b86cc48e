/**
 * Atomic, durable file replacement — the primitive under every commit point on local disk (the gateway's spool
 * and result outbox, the enclave's sealed state, the cloud's result files). Write a temp file, flush it, rename it
 * over the target, then flush the directory: after a crash the target is either the old or the new content,
 * never a mix, and a rename that returned is not lost with the directory's metadata.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writevSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Flushes performed by this module since the process started (files and directories), for tests and profiles. */
const syncs = { file: 0, dir: 0 };

/** How many file flushes (fsync or fdatasync) and directory fsyncs this process's durable writes have done so far. */
export function durableSyncCounts(): { file: number; dir: number } {
  return { ...syncs };
}

/** Flushes a directory's entries (creations, renames, deletions) to disk. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    syncs.dir++;
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `file` with `data` atomically and durably (temp, fsync, rename, directory fsync). `syncDir: false` leaves
 * the directory flush to a caller that writes several files into one directory and flushes it once before it commits.
 */
export function writeFileDurable(file: string, data: Uint8Array | string, opts: { mode?: number; syncDir?: boolean } = {}): void {
  writeChunksDurable(file, [typeof data === 'string' ? Buffer.from(data) : data], opts);
}

/**
 * `writeFileDurable` of the concatenation of `chunks`, written as they come with vectored writes, so a large file
 * made of pieces (a sealed snapshot, encrypted as it is written) is never one buffer.
 */
export function writeChunksDurable(file: string, chunks: Iterable<Uint8Array>, opts: { mode?: number; syncDir?: boolean } = {}): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', opts.mode ?? 0o600);
  try {
    try {
      writeAllSync(fd, chunks);
      syncs.file++;
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    // A failed write (a full disk) must not leave its partial temp file holding the space it lacked.
    rmSync(tmp, { force: true });
    throw err;
  }
  if (opts.syncDir !== false) fsyncDir(dirname(file));
}

/** Bytes gathered from `writeAllSync`'s pieces before one vectored write: few syscalls, little memory held. */
const WRITE_BATCH = 4 * 1024 * 1024;

/** Writes every byte of `chunks`, in order, at the file's current position, consuming them as it goes; no flush. */
export function writeAllSync(fd: number, chunks: Iterable<Uint8Array>): void {
  let batch: Uint8Array[] = [];
  let bytes = 0;
  for (const chunk of chunks) {
    if (chunk.length === 0) continue;
    batch.push(chunk);
    bytes += chunk.length;
    if (bytes >= WRITE_BATCH) {
      writevAll(fd, batch);
      batch = [];
      bytes = 0;
    }
  }
  writevAll(fd, batch);
}

/** One or more writev calls until all of `bufs` is written (a call may write less than asked). */
function writevAll(fd: number, bufs: Uint8Array[]): void {
  let rest = bufs;
  while (rest.length > 0) {
    let n = writevSync(fd, rest);
    let i = 0;
    while (i < rest.length && n >= rest[i]!.length) n -= rest[i++]!.length;
    rest = rest.slice(i);
    if (n > 0) rest[0] = rest[0]!.subarray(n);
  }
}

/**
 * `writeFileDurable` without blocking the event loop on the flush. `syncDir: false` leaves the directory flush to
 * the caller, who writes many files into one directory and flushes it once (`fsyncDirAsync`) before it commits.
 * `dataOnly`: fdatasync instead of fsync — enough for a new file, whose size is flushed with its data (the
 * timestamps are not needed after a crash).
 */
export async function writeFileDurableAsync(file: string, data: Uint8Array | string, opts: { mode?: number; syncDir?: boolean; dataOnly?: boolean } = {}): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', opts.mode ?? 0o600);
  try {
    try {
      await fh.writeFile(data);
      syncs.file++;
      await (opts.dataOnly === true ? fh.datasync() : fh.sync());
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  if (opts.syncDir !== false) await fsyncDirAsync(dirname(file));
}

/** Flushes a directory's entries to disk without blocking the event loop. */
export async function fsyncDirAsync(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    syncs.dir++;
    await dh.sync();
  } finally {
    await dh.close();
  }
}
