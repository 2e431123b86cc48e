/**
 * The SFTP ingress bounds what one peer can hold: open handles per session, sessions per gateway, connections per
 * address and in total, the time to authenticate and the time an authenticated session may stay idle; and a
 * retention sweep removes abandoned temp uploads and old quarantine entries. Real ssh2 clients and raw TCP sockets
 * against the real server (plain mode: no enclave is needed for the ingress).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2, { type SFTPWrapper } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSshKeyPair } from '../crypto/index.js';
import { startCloud, type CloudHandle, type CloudOptions } from './index.js';

const { Client } = ssh2;
const FAILURE = ssh2.utils.sftp.STATUS_CODE.FAILURE;

const root = mkdtempSync(join(tmpdir(), 'sftp-limits-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const key = generateSshKeyPair();
let n = 0;

/** A plain-mode cloud on a free port with the given SFTP limits (no batches run during a test). */
async function cloudWith(extra: Partial<CloudOptions>): Promise<{ cloud: CloudHandle; dir: string }> {
  const dir = join(root, `c${++n}`);
  const cloud = await startCloud({ dataDir: dir, gateways: [{ id: 'gw-1', sshPublicKey: key.public }], batchIntervalMs: 3_600_000, mode: 'plain', ...extra });
  return { cloud, dir };
}

/** An authenticated ssh2 connection and its SFTP session. */
async function session(port: number): Promise<{ conn: InstanceType<typeof Client>; sftp: SFTPWrapper }> {
  const conn = new Client();
  await new Promise<void>((resolve, reject) => {
    conn.once('ready', () => resolve()).once('error', reject);
    conn.connect({ host: '127.0.0.1', port, username: 'gw-1', privateKey: key.private, readyTimeout: 20_000 });
  });
  const sftp = await new Promise<SFTPWrapper>((resolve, reject) => conn.sftp((err, s) => (err ? reject(err) : resolve(s))));
  return { conn, sftp };
}

type OpenOutcome = { ok: true; handle: Buffer } | { ok: false; code: number | undefined; message: string };

function openFile(sftp: SFTPWrapper, path: string, flags: string): Promise<OpenOutcome> {
  return new Promise((resolve) =>
    sftp.open(path, flags, (err, handle) => resolve(err ? { ok: false, code: (err as Error & { code?: number }).code, message: err.message } : { ok: true, handle })),
  );
}

const closeHandle = (sftp: SFTPWrapper, h: Buffer): Promise<void> => new Promise((resolve, reject) => sftp.close(h, (err) => (err ? reject(err) : resolve())));
const readdirOf = (sftp: SFTPWrapper, path: string): Promise<string[]> =>
  new Promise((resolve, reject) => sftp.readdir(path, (err, list) => (err ? reject(err) : resolve(list.map((e) => e.filename).sort()))));

describe('SFTP ingress resource limits', () => {
  let cloud: CloudHandle;
  beforeAll(async () => {
    ({ cloud } = await cloudWith({ sftpLimits: { maxHandlesPerSession: 8 } }));
  });
  afterAll(async () => {
    await cloud?.stop();
  });

  it('refuses OPEN beyond the per-session handle limit with FAILURE, and the session keeps working', async () => {
    const { conn, sftp } = await session(cloud.port);
    try {
      // All requests are pipelined: a limit checked only after each asynchronous open would let every one through.
      const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => openFile(sftp, `inbox/h${i}.part`, 'w')));
      const opened = outcomes.filter((o): o is Extract<OpenOutcome, { ok: true }> => o.ok);
      const refused = outcomes.filter((o): o is Extract<OpenOutcome, { ok: false }> => !o.ok);
      expect(opened).toHaveLength(8);
      expect(refused).toHaveLength(12);
      for (const r of refused) {
        expect(r.code).toBe(FAILURE);
        expect(r.message).toMatch(/too many open handles.*limit 8/);
      }
      // The session survives: directory listing still answers, and a closed handle frees a slot.
      expect(await readdirOf(sftp, 'inbox')).toHaveLength(8);
      await closeHandle(sftp, opened[0]!.handle);
      const again = await openFile(sftp, 'inbox/again.part', 'w');
      expect(again.ok).toBe(true);
      expect((await openFile(sftp, 'inbox/over.part', 'w')).ok).toBe(false);
      expect(cloud.stats().sftp_refused.handles).toBe(13);
    } finally {
      conn.end();
    }
  });
});
