/**
 * The long-running commands as a user meets them in a terminal: `hrvault demo` prints its logins, stops on
 * Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or SIGTERM with its summary and exit 0,
 * and every command that listens (demo, serve, csp, sp, cloud) refuses a port that is taken with one line
 * on stderr and exit 2.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitWithin, runCli, spawnCli, type CliProcess } from '../test-support/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'hrvault-lifecycle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts a short-interval demo with its own data dir (so its logins file is where the test looks). */
function startDemo(name: string, extra: string[] = []): CliProcess {
  const dataDir = join(dir, name);
  return spawnCli([
    'demo',
    '--patients',
    '3',
    '--batch-interval',
    '0.5',
    '--speed',
    '5',
    '--port',
    '0',
    '--data-dir',
    dataDir,
    ...extra,
  ]);
}

/** The first status line: the whole pipeline runs. */
const RUNNING = /\] published \d+/;
/** The human summary's first and last lines. */
const SUMMARY = /hrvault demo \(secure\): 3 patients[\s\S]*beats published[\s\S]*data\s+\//;

describe('hrvault demo', () => {
  // Each demo start opens two embedded databases and spawns the enclave: tens of seconds on a loaded
  // machine, so each run below checks several things.
  it('prints the staff logins and where all the others are (each logs in); Ctrl-C once it runs: summary, exit 0', async () => {
    const demo = startDemo('sigint');
    try {
      const api = (await demo.waitFor(/API: (http:\/\/\S+)\/api\/v1/))[1]!;
      const where = (await demo.waitFor(/all logins in (\S+)\)/))[1]!;
      const printed = [...demo.stderr().matchAll(/^ {2}(admin|doctor|health_worker)\s+(\S+) \/ (\S+)$/gm)];
      expect(printed.map((m) => m[1])).toEqual(expect.arrayContaining(['admin', 'doctor', 'health_worker']));
      const all = JSON.parse(readFileSync(where, 'utf8')) as { username: string; password: string; role: string }[];
      // Every patient has a login in the file, and the printed ones are the file's too.
      expect(all.filter((c) => c.role === 'patient')).toHaveLength(3);
      for (const m of printed) expect(all).toContainEqual(expect.objectContaining({ username: m[2], password: m[3] }));
      for (const c of all) {
        const r = await fetch(`${api}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: c.username, password: c.password }),
        });
        expect(r.status, `${c.role} ${c.username}`).toBe(200);
      }
      await demo.waitFor(RUNNING);
      demo.signalGroup('SIGINT');
      const exit = await exitWithin(demo, 120_000);
      expect(exit, demo.stderr()).toEqual({ code: 0, signal: null });
      expect(demo.stderr()).toMatch(SUMMARY);
      expect(demo.stderr()).not.toMatch(/internal error|\n\s+at /);
    } finally {
      demo.signalGroup('SIGKILL');
    }
  });

  it('SIGTERM (kill PID) with --json, and a second signal while it drains: the JSON summary, exit 0', async () => {
    // Without the access stack (not under test here): its two embedded databases are most of a start.
    const demo = startDemo('sigterm', ['--json', '--no-access']);
    try {
      await demo.waitFor(RUNNING);
      demo.signal('SIGTERM');
      // The second only once the first has been taken (two signals sent at once may arrive as one).
      await demo.waitFor(/SIGTERM: stopping/);
      demo.signalGroup('SIGINT');
      const exit = await exitWithin(demo, 120_000);
      expect(exit, demo.stderr()).toEqual({ code: 0, signal: null });
      const s = JSON.parse(demo.stdout().trim()) as Record<string, unknown>;
      expect(s).toMatchObject({ mode: 'secure', patients: 3, lost: 0 });
    } finally {
      demo.signalGroup('SIGKILL');
    }
  });

  it('Ctrl-C during start-up (before the pipeline runs): still the summary and exit 0', async () => {
    const demo = startDemo('startup');
    try {
      // The access stack's address is printed before the enclave, the cloud and the gateway start.
      await demo.waitFor(/API: http/);
      demo.signalGroup('SIGINT');
      const exit = await exitWithin(demo, 120_000);
      expect(exit, demo.stderr()).toEqual({ code: 0, signal: null });
      expect(demo.stderr()).toMatch(SUMMARY);
    } finally {
      demo.signalGroup('SIGKILL');
    }
  });
});

describe('a port already in use', () => {
  let taken: Server;
  let port: number;
  let cspKey: string;
  let spKey: string;
  let gatewayKeys: string;

  beforeAll(async () => {
    taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    port = (taken.address() as { port: number }).port;
    const csp = await runCli(['csp', '--init', '--data-dir', join(dir, 'csp-keys'), '--paillier-bits', '1024']);
    expect(csp.code, csp.stderr).toBe(0);
    cspKey = csp.stdout.trim();
    const sp = await runCli(['sp', '--init', '--data-dir', join(dir, 'sp-keys')]);
    expect(sp.code, sp.stderr).toBe(0);
    spKey = sp.stdout.trim();
    const gw = await runCli(['gateway', '--print-keys', '--id', 'gw1', '--data-dir', join(dir, 'gw')]);
    expect(gw.code, gw.stderr).toBe(0);
    gatewayKeys = join(dir, 'gw1.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(gatewayKeys, gw.stdout);
  });
  afterAll(() => new Promise<void>((r) => taken.close(() => r())));

  const commands: [string, () => string[]][] = [
    ['demo', () => ['demo', '--patients', '1', '--duration', '5', '--data-dir', join(dir, 'demo-port')]],
    ['serve', () => ['serve', '--data-dir', join(dir, 'serve-port'), '--paillier-bits', '1024']],
    ['sp', () => ['sp', '--csp-public-key', cspKey, '--data-dir', join(dir, 'sp-keys')]],
    [
      'csp',
      () => ['csp', '--sp-url', 'http://127.0.0.1:9/sp/v1/wire', '--sp-public-key', spKey, '--data-dir', join(dir, 'csp-keys')],
    ],
    [
      'cloud',
      () => ['cloud', '--gateway-keys', gatewayKeys, '--data-dir', join(dir, 'cloud'), '--enclave-dir', join(dir, 'enclave')],
    ],
  ];
  for (const [name, args] of commands) {
    it(`hrvault ${name} --port <taken>: one line naming the port, exit 2`, async () => {
      const r = await runCli([...args(), '--port', String(port)]);
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^hrvault: .*${port}.* in use`));
    });
  }
});
