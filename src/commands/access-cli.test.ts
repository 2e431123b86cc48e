/**
 * The access services as separate OS processes, as an operator starts them: keys by --init, the SP and the
 * CSP each pinning the other, a login over HTTP, and `hrvault audit verify` on the CSP's data.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = ['--import', 'tsx', join(ROOT, 'src/cli.ts')];
const dir = mkdtempSync(join(tmpdir(), 'hrvault-access-cli-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [...CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
}

/** Starts a long-running command and resolves once stderr shows `ready`. */
function start(args: string[], ready: RegExp, env: Record<string, string> = {}): Promise<string> {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, env: { ...process.env, ...env } });
  children.push(child);
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = ready.exec(err);
      if (m) resolve(m[1] ?? err);
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
}

describe('hrvault sp and hrvault csp as separate processes', () => {
  it('pin each other, serve logins over HTTP, and keep a verifiable audit log', async () => {
    const cspDir = join(dir, 'csp');
    const spDir = join(dir, 'sp');
    const cspKey = run(['csp', '--init', '--data-dir', cspDir, '--paillier-bits', '1024']);
    expect(cspKey.status, cspKey.stderr).toBe(0);
    const spKey = run(['sp', '--init', '--data-dir', spDir]);
    expect(spKey.status, spKey.stderr).toBe(0);
    expect(spKey.stdout.trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Without the peer's key neither starts, and says why.
    const missing = run(['csp', '--data-dir', cspDir]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/--sp-url and --sp-public-key/);

    const spUrl = await start(['sp', '--csp-public-key', cspKey.stdout.trim(), '--data-dir', spDir, '--port', '0'], /hrvault sp: (http:\/\/\S+);/);
    const api = await start(
      ['csp', '--sp-url', spUrl, '--sp-public-key', spKey.stdout.trim(), '--data-dir', cspDir, '--port', '0'],
      /API at (http:\/\/\S+)\/api\/v1/,
      { HRVAULT_ADMIN_PASSWORD: 'correct horse battery staple' },
    );
    const login = await fetch(`${api}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'correct horse battery staple' }),
    });
    expect(login.status).toBe(200);
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    const audit = run(['audit', 'verify', '--data-dir', cspDir, '--json']);
    expect(audit.status, audit.stderr).toBe(0);
    expect(JSON.parse(audit.stdout)).toMatchObject({ ok: true });
  });
});
