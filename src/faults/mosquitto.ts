/**
 * A private Mosquitto for the broker scenarios: its own port, directory, password file and persistence, started
 * from deploy/mosquitto/mosquitto.conf (only the listener, the paths, the log destination and the user are
 * rewritten, and the TLS lines dropped: plain loopback TCP; every setting that matters for loss is the file's own)
 * or from the package defaults. The test can
 * SIGKILL it and start it again on the same port and persistence directory.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, ROOT } from '../test-support/processes.js';

export const DOCUMENTED_CONF = join(ROOT, 'deploy', 'mosquitto', 'mosquitto.conf');
const DOCUMENTED_ACL = join(ROOT, 'deploy', 'mosquitto', 'hrvault.acl');

/** True when the mosquitto and mosquitto_passwd binaries are on this machine. */
export function mosquittoInstalled(): boolean {
  try {
    execFileSync('mosquitto', ['-h'], { stdio: 'ignore' });
  } catch (err) {
    // `mosquitto -h` exits 3 after printing its help: present. ENOENT: absent.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
  }
  try {
    execFileSync('mosquitto_passwd', ['-h'], { stdio: 'ignore' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
  }
  return true;
}

export interface PrivateMosquitto {
  url: string;
  port: number;
  /** The configuration file it runs with (for the log). */
  confFile: string;
  /** Everything it logged across its runs. */
  log(): string;
  /** SIGKILL (no save of the in-memory store): what a crash or the OOM killer leaves. */
  kill(): Promise<void>;
  /** Starts it again with the same configuration, port and persistence directory. */
  restart(): Promise<void>;
  /** SIGTERM (it saves its store) and waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Writes the configuration into `dir` and starts mosquitto. `config`: 'documented' (deploy/mosquitto) or
 * 'default' (what the Debian package ships: persistence on, everything else mosquitto's defaults), both with the
 * same authentication and ACL. `users` are username → password.
 */
export async function startPrivateMosquitto(opts: { dir: string; config: 'documented' | 'default'; users: Record<string, string> }): Promise<PrivateMosquitto> {
  mkdirSync(join(opts.dir, 'db'), { recursive: true });
  const passwd = join(opts.dir, 'passwd');
  const acl = join(opts.dir, 'acl');
  writeFileSync(passwd, '');
  for (const [u, p] of Object.entries(opts.users)) execFileSync('mosquitto_passwd', ['-b', passwd, u, p]);
  writeFileSync(acl, readFileSync(DOCUMENTED_ACL));
  const port = await freePort();
  const local: Record<string, string> = {
    listener: `listener ${port} 127.0.0.1`,
    persistence_location: `persistence_location ${join(opts.dir, 'db')}/`,
    password_file: `password_file ${passwd}`,
    acl_file: `acl_file ${acl}`,
  };
  let lines: string[];
  if (opts.config === 'documented') {
    lines = readFileSync(DOCUMENTED_CONF, 'utf8')
      .split('\n')
      // The loss scenarios run over plain loopback TCP: the TLS lines (tested in src/gateway/mosquitto.int.test.ts) go.
      .filter((l) => !/^(log_dest|log_type|user|cafile|certfile|keyfile|tls_version)\b/.test(l))
      .map((l) => {
        const key = /^(\w+)\s/.exec(l)?.[1];
        return key !== undefined && key in local ? local[key]! : l;
      });
  } else {
    lines = ['per_listener_settings false', local.listener!, 'allow_anonymous false', local.password_file!, local.acl_file!, 'persistence true', local.persistence_location!];
  }
  // Run as whoever runs the test (as root mosquitto would switch to the mosquitto user, who cannot write here).
  if (process.getuid?.() === 0) lines.push('user root');
  lines.push('log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice', 'log_type information');
  const confFile = join(opts.dir, `mosquitto-${opts.config}.conf`);
  writeFileSync(confFile, `${lines.join('\n')}\n`);

  let logText = '';
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const c = spawn('mosquitto', ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    const before = logText.length;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`mosquitto did not start within 30 s:\n${logText.slice(before)}`)), 30_000);
      c.stderr!.on('data', (d: Buffer) => {
        logText += d.toString();
        if (/mosquitto version \S+ running/.test(logText.slice(before))) {
          clearTimeout(timer);
          resolve();
        }
      });
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`mosquitto exited (${code}) while starting:\n${logText.slice(before)}`));
      });
    });
  };
  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await exited;
  };
  await start();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    confFile,
    log: () => logText,
    kill: () => stopWith('SIGKILL'),
    restart: start,
    stop: () => stopWith('SIGTERM'),
  };
}
