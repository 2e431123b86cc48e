/** What machine a run was measured on: CPU model and count (lscpu where present), memory, kernel, Node, load. */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem, type as osType } from 'node:os';

export interface MachineInfo {
  cpu_model: string;
  cpus: number;
  threads_per_core: number | null;
  hypervisor: string | null;
  memory_gb: number;
  os: string;
  node: string;
  /** 1-minute load average when the run started: the machine is shared. */
  load_avg_1m: number;
}

/** Describes this machine. */
export function machineInfo(): MachineInfo {
  let lscpu = '';
  try {
    lscpu = execFileSync('lscpu', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    // Not Linux, or util-linux missing: os.cpus() still names the model.
  }
  const field = (name: string): string | undefined => new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(lscpu)?.[1]?.trim();
  const tpc = Number(field('Thread\\(s\\) per core'));
  return {
    cpu_model: field('Model name') ?? cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    threads_per_core: Number.isFinite(tpc) ? tpc : null,
    hypervisor: field('Hypervisor vendor') ?? null,
    memory_gb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${osType()} ${release()}`,
    node: process.version,
    load_avg_1m: Math.round(loadavg()[0]! * 100) / 100,
  };
}
