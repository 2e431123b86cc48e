import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lockStateDir } from './state-lock.js';

const dir = mkdtempSync(join(tmpdir(), 'enclave-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const lock = join(dir, 'enclave.lock');
const startOf = (pid: number): string => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
};

describe.runIf(process.platform === 'linux')('enclave state lock', () => {
  it('refuses a directory held by a live process, takes over from a dead or recycled pid, and records its own pid and start time', () => {
    // The parent (vitest's main process) is alive for the whole test: it stands in for a live holder.
    writeFileSync(lock, `${process.ppid} ${startOf(process.ppid)}\n`);
    expect(() => lockStateDir(dir)).toThrow(new RegExp(`held by enclave process ${process.ppid}, still running`));
    // The same pid with another start time is a recycled pid, not the holder.
    writeFileSync(lock, `${process.ppid} 1\n`);
    lockStateDir(dir);
    expect(readFileSync(lock, 'utf8')).toBe(`${process.pid} ${startOf(process.pid)}\n`);
    // A holder that has exited.
    writeFileSync(lock, '2147483646 5\n');
    expect(() => lockStateDir(dir)).not.toThrow();
    // Its own lock (a restart of the same process) is not a conflict.
    expect(() => lockStateDir(dir)).not.toThrow();
  });
});
