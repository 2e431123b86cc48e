/**
 * One enclave process per sealed state directory. A host that dies alone (OOM killer, a crash failpoint) leaves its
 * enclave child running until it has read the IPC pipe to its end; a host restarted at once forks a new enclave
 * meanwhile. Two processes appending to one journal would write two records under the same index, and the next
 * start would refuse the journal as tampered. The lock file names the holder's pid; a new enclave refuses to start
 * while that process is alive and is an enclave (its supervisor retries the start with backoff), and takes over a
 * lock whose holder is gone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurable } from '../durable-file.js';
import { HrvaultError } from '../errors.js';

const LOCK = 'enclave.lock';

/** True when `pid` is a live process that runs the enclave (on Linux, by its command line; elsewhere: alive). */
function enclaveAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return /enclave[/\\]main\.[jt]s/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    // No /proc (not Linux): a live process under that pid is taken for the holder.
    return true;
  }
}

/** Takes the state directory for this process; throws HRV_ERR_ENCLAVE while another live enclave holds it. */
export function lockStateDir(dir: string): void {
  const file = join(dir, LOCK);
  let holder: number | undefined;
  try {
    holder = Number(readFileSync(file, 'utf8').trim());
  } catch {
    holder = undefined;
  }
  if (holder !== undefined && Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && enclaveAlive(holder)) {
    throw new HrvaultError('HRV_ERR_ENCLAVE', `sealed state ${dir} is held by enclave process ${holder}, still running`);
  }
  writeFileDurable(file, `${process.pid}\n`);
}
