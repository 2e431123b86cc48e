/**
 * One enclave process per sealed state directory. A host that dies alone (OOM killer, a crash failpoint) leaves its
 * enclave child running until it has read the IPC pipe to its end; a host restarted at once forks a new enclave
 * meanwhile. Two processes appending to one journal would write two records under the same index, and the next
 * start would refuse the journal as tampered. The lock file names the holder (pid and, on Linux, its start time, so
 * that a recycled pid is not taken for it); a new enclave refuses to start while the holder is alive (its
 * supervisor retries the start with backoff) and takes over a lock whose holder is gone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurable } from '../durable-file.js';
import { HrvaultError } from '../errors.js';

const LOCK = 'enclave.lock';

/** The start time of `pid` in clock ticks since boot (Linux /proc), or undefined where it cannot be read. */
function startTime(pid: number): string | undefined {
  try {
    // Fields after the command name (which may hold spaces) start after the last ')'; starttime is field 22.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** True when the process named by a lock (`pid`, and its start time when recorded) is still running. */
function holderAlive(pid: number, start: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return start === undefined || startTime(pid) === start;
}

/** Takes the state directory for this process; throws HRV_ERR_ENCLAVE while another live enclave holds it. */
export function lockStateDir(dir: string): void {
  const file = join(dir, LOCK);
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // No lock yet: the first start in this directory.
  }
  const [pidText, start] = text.trim().split(' ');
  const holder = Number(pidText);
  if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && holderAlive(holder, start)) {
    throw new HrvaultError('HRV_ERR_ENCLAVE_STATE_HELD', `sealed state ${dir} is held by enclave process ${holder}, still running`);
  }
  const mine = startTime(process.pid);
  writeFileDurable(file, `${process.pid}${mine === undefined ? '' : ` ${mine}`}\n`);
}
