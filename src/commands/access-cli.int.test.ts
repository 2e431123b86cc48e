/**
 * The access services as separate OS processes, as an operator starts them: keys by --init, the SP and the
 * CSP each pinning the other, a login over HTTP, and `hrvault audit verify` on the CSP's data.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitWithin, runCli, spawnCli, type CliProcess } from '../test-support/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'hrvault-access-cli-'));
const children: CliProcess[] = [];

afterAll(async () => {
  for (const c of children) c.signalGroup('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a long-running command and resolves with the first group of `ready` once stderr shows it. */
async function start(args: string[], ready: RegExp, env: Record<string, string> = {}): Promise<string> {
  const child = spawnCli(args, { env });
  children.push(child);
  const m = await child.waitFor(ready);
  return m[1] ?? m[0];
}

describe('hrvault sp and hrvault csp as separate processes', () => {
  it('pin each other, serve logins over HTTP, and keep a verifiable audit log', async () => {
    const cspDir = join(dir, 'csp');
    const spDir = join(dir, 'sp');
    const cspKey = await runCli(['csp', '--init', '--data-dir', cspDir, '--paillier-bits', '1024']);
    expect(cspKey.code, cspKey.stderr).toBe(0);
    const spKey = await runCli(['sp', '--init', '--data-dir', spDir]);
    expect(spKey.code, spKey.stderr).toBe(0);
    expect(spKey.stdout.trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Without the peer's key neither starts, and says why.
    const missing = await runCli(['csp', '--data-dir', cspDir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--sp-url, --sp-public-key/);

    const spUrl = await start(['sp', '--csp-public-key', cspKey.stdout.trim(), '--data-dir', spDir, '--port', '0'], /hrvault sp: (http:\/\/\S+);/);
    const api = await start(
      ['csp', '--sp-url', spUrl, '--sp-public-key', spKey.stdout.trim(), '--data-dir', cspDir, '--port', '0'],
      /API at (http:\/\/\S+)\/api\/v1/,
      { HRVAULT_CSP_ADMIN_PASSWORD: 'correct horse battery staple' },
    );
    const login = await fetch(`${api}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'correct horse battery staple' }),
    });
    expect(login.status).toBe(200);
    // Stop both as an operator does and wait for them to end (the CSP closes its audit log on the way out);
    // each stops cleanly, exit 0.
    for (const c of children) c.signalGroup('SIGTERM');
    for (const c of children) expect(await exitWithin(c, 60_000)).toEqual({ code: 0, signal: null });
    const audit = await runCli(['audit', 'verify', '--data-dir', cspDir, '--json']);
    expect(audit.code, audit.stderr).toBe(0);
    expect(JSON.parse(audit.stdout)).toMatchObject({ ok: true });
  });
});
