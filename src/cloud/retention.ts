/**
 * Retention on the cloud host: uploads abandoned under a temp name (a gateway that crashed between closing a
 * `.part` and renaming it, or a host that crashed mid-write of an outbox file) and quarantine entries are deleted
 * once older than their retention period, so neither grows without bound. A temp file that a session holds open
 * for writing is never deleted, however old its modification time.
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isTempName } from './paths.js';

/** Retention periods and how often the sweep runs (ms). */
export interface RetentionPolicy {
  tempRetentionMs: number;
  quarantineRetentionMs: number;
  sweepIntervalMs: number;
}

/** Defaults: a day for abandoned temp uploads, 30 days for quarantine (enough to investigate a rejection), hourly sweeps. */
export const DEFAULT_RETENTION: RetentionPolicy = {
  tempRetentionMs: 86_400_000,
  quarantineRetentionMs: 30 * 86_400_000,
  sweepIntervalMs: 3_600_000,
};

/** What one sweep deleted: temp files, and quarantine entries (a quarantined file with its reason record). */
export interface SweepResult {
  temp_files: number;
  quarantine_entries: number;
}

export interface SweepInput {
  /** The cloud's data directory (gateways/, quarantine/). */
  root: string;
  gateways: string[];
  /** True while `<gateway>/<name>` is open for writing in an SFTP session. */
  isWriting(gateway: string, name: string): boolean;
  policy: RetentionPolicy;
  /** Current time (ms since the epoch). */
  now: number;
}

/** The host's own durable-write temp files (`<name>.tmp-<pid>`, see durable-file.ts). */
const HOST_TEMP = /\.tmp-\d+$/;
const REASON = '.reason.json';

async function list(dir: string): Promise<string[]> {
  return readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return [];
    throw err;
  });
}

async function mtimeMs(file: string): Promise<number | undefined> {
  return (await stat(file).catch(() => undefined))?.mtimeMs;
}

/** Deletes `file`; false if it was already gone. */
async function remove(file: string): Promise<boolean> {
  return unlink(file).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    },
  );
}

async function sweepTemp(input: SweepInput): Promise<number> {
  const cutoff = input.now - input.policy.tempRetentionMs;
  let n = 0;
  for (const gw of input.gateways) {
    for (const area of ['inbox', 'outbox'] as const) {
      const dir = join(input.root, 'gateways', gw, area);
      for (const name of await list(dir)) {
        const temp = area === 'inbox' ? isTempName(name) : HOST_TEMP.test(name);
        if (!temp || input.isWriting(gw, name)) continue;
        const m = await mtimeMs(join(dir, name));
        // Checked again after the await: a session may have opened it meanwhile; the unlink follows synchronously.
        if (m === undefined || m >= cutoff || input.isWriting(gw, name)) continue;
        if (await remove(join(dir, name))) n++;
      }
    }
  }
  return n;
}

async function sweepQuarantine(input: SweepInput): Promise<number> {
  const cutoff = input.now - input.policy.quarantineRetentionMs;
  const qroot = join(input.root, 'quarantine');
  let n = 0;
  for (const gw of await list(qroot)) {
    const dir = join(qroot, gw);
    const names = await list(dir);
    // An entry is `<ms>-<name>` (the refused file) and `<ms>-<name>.reason.json`; its age is the reason record's,
    // written when it was quarantined (the moved file keeps its upload time).
    const entries = new Map<string, string[]>();
    for (const name of names) {
      const base = name.endsWith(REASON) ? name.slice(0, -REASON.length) : name;
      entries.set(base, [...(entries.get(base) ?? []), name]);
    }
    for (const [base, files] of entries) {
      const dated = files.includes(base + REASON) ? base + REASON : files[0]!;
      const m = await mtimeMs(join(dir, dated));
      if (m === undefined || m >= cutoff) continue;
      let removed = false;
      for (const f of files) removed = (await remove(join(dir, f))) || removed;
      if (removed) n++;
    }
  }
  return n;
}

/** Deletes temp files and quarantine entries older than their retention; returns what it deleted. */
export async function sweepRetention(input: SweepInput): Promise<SweepResult> {
  return { temp_files: await sweepTemp(input), quarantine_entries: await sweepQuarantine(input) };
}
