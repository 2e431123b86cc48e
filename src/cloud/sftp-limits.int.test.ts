/**
 * The SFTP ingress bounds what one peer can hold: open handles per session, sessions per gateway, connections per
 * address and in total, the time to authenticate and the time an authenticated session may stay idle; and a
 * retention sweep removes abandoned temp uploads and old quarantine entries. Real ssh2 clients and raw TCP sockets
 * against the real server (plain mode: no enclave is needed for the ingress).
 */
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
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

function openFile(sftp: SFTPWrapper, path: string, flags: 'w' | 'r'): Promise<OpenOutcome> {
  return new Promise((resolve) =>
    sftp.open(path, flags, (err, handle) => resolve(err ? { ok: false, code: (err as Error & { code?: number }).code, message: err.message } : { ok: true, handle })),
  );
}

const statSize = (sftp: SFTPWrapper, path: string): Promise<number | undefined> => new Promise((resolve, reject) => sftp.stat(path, (err, a) => (err ? reject(err) : resolve(a.size))));
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
      // The session survives: requests that need no handle still answer, and a closed handle frees a slot.
      expect(await statSize(sftp, 'inbox/h0.part')).toBe(0);
      await closeHandle(sftp, opened[0]!.handle);
      expect(await readdirOf(sftp, 'inbox')).toHaveLength(8);
      const again = await openFile(sftp, 'inbox/again.part', 'w');
      expect(again.ok).toBe(true);
      expect((await openFile(sftp, 'inbox/over.part', 'w')).ok).toBe(false);
      expect(cloud.stats().sftp_refused.handles).toBe(13);
    } finally {
      conn.end();
    }
  });
});

/** A raw TCP connection to the SFTP port that says nothing; resolves once it is connected. */
function rawSocket(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: '127.0.0.1', port, localAddress }, () => resolve(s));
    s.once('error', reject);
  });
}

/** What happens first on a raw connection: the server's SSH identification line, or the connection's close. */
function firstEvent(s: Socket): Promise<'banner' | 'closed'> {
  return new Promise((resolve) => {
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.includes('SSH-2.0-')) resolve('banner');
    });
    s.once('close', () => resolve('closed'));
    s.on('error', () => undefined);
  });
}

/** Resolves when the socket closes; rejects if it is still open after `ms` (a deadline, not a wait). */
function closedWithin(s: Socket, ms: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    if (s.destroyed) return resolve(0);
    // A paused socket never sees the peer's end: read (and drop) whatever arrives.
    s.resume();
    const timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(performance.now() - t0);
    });
    s.on('error', () => undefined);
  });
}

describe('SFTP ingress connection limits and timeouts', () => {
  it('closes a TCP connection that does not authenticate within the authentication timeout', async () => {
    const { cloud } = await cloudWith({ sftpLimits: { authTimeoutMs: 300 } });
    try {
      // One socket that never speaks, one that sends its identification line and then stalls mid-handshake.
      const silent = await rawSocket(cloud.port);
      const stalled = await rawSocket(cloud.port);
      stalled.write('SSH-2.0-stalled_client\r\n');
      const [a, b] = await Promise.all([closedWithin(silent, 10_000), closedWithin(stalled, 10_000)]);
      expect(a).toBeGreaterThanOrEqual(200);
      expect(b).toBeGreaterThanOrEqual(200);
      expect(cloud.stats().sftp_refused.auth_timeouts).toBe(2);
      // An authenticating client within the deadline is unaffected.
      const { conn, sftp } = await session(cloud.port);
      expect(await readdirOf(sftp, '/')).toEqual(['inbox', 'outbox']);
      conn.end();
    } finally {
      await cloud.stop();
    }
  });

  it('refuses connections beyond the per-address limit while other addresses are served', async () => {
    const { cloud } = await cloudWith({ sftpLimits: { maxConnectionsPerAddress: 2, maxConnections: 100 } });
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const s = await rawSocket(cloud.port);
        sockets.push(s);
        expect(await firstEvent(s)).toBe('banner');
      }
      const third = await rawSocket(cloud.port);
      expect(await firstEvent(third)).toBe('closed');
      // Another loopback address has its own allowance.
      const other = await rawSocket(cloud.port, '127.0.0.2');
      sockets.push(other);
      expect(await firstEvent(other)).toBe('banner');
      // A closed connection frees its slot.
      sockets[0]!.destroy();
      await closedWithin(sockets[0]!, 5000);
      await expect.poll(async () => {
        const s = await rawSocket(cloud.port);
        sockets.push(s);
        return firstEvent(s);
      }).toBe('banner');
      expect(cloud.stats().sftp_refused.connections_per_address).toBeGreaterThanOrEqual(1);
    } finally {
      for (const s of sockets) s.destroy();
      await cloud.stop();
    }
  });

  it('refuses connections beyond the total connection limit', async () => {
    const { cloud } = await cloudWith({ sftpLimits: { maxConnectionsPerAddress: 100, maxConnections: 3 } });
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const s = await rawSocket(cloud.port, `127.0.0.${i + 1}`);
        sockets.push(s);
        expect(await firstEvent(s)).toBe('banner');
      }
      const fourth = await rawSocket(cloud.port, '127.0.0.9');
      expect(await firstEvent(fourth)).toBe('closed');
      expect(cloud.stats().sftp_refused.connections_total).toBe(1);
    } finally {
      for (const s of sockets) s.destroy();
      await cloud.stop();
    }
  });

  it('refuses a gateway more concurrent sessions than its limit, over connections and over channels', async () => {
    const { cloud } = await cloudWith({ sftpLimits: { maxSessionsPerGateway: 2 } });
    const conns: InstanceType<typeof Client>[] = [];
    try {
      const first = await session(cloud.port);
      conns.push(first.conn);
      // A second SFTP channel on the same connection is the gateway's second session.
      const second = await new Promise<SFTPWrapper>((resolve, reject) => first.conn.sftp((err, s) => (err ? reject(err) : resolve(s))));
      expect(await readdirOf(second, '/')).toEqual(['inbox', 'outbox']);
      await expect(new Promise<SFTPWrapper>((resolve, reject) => first.conn.sftp((err, s) => (err ? reject(err) : resolve(s))))).rejects.toThrow();
      // A further connection of the same gateway is refused at login.
      await expect(session(cloud.port)).rejects.toThrow(/authentication/i);
      expect(cloud.stats().sftp_refused.sessions).toBeGreaterThanOrEqual(2);
      // The sessions that were admitted still work.
      expect(await readdirOf(first.sftp, 'inbox')).toEqual([]);
      // Ending the connection frees its sessions: the gateway can log in again.
      const gone = new Promise<void>((resolve) => first.conn.once('close', () => resolve()));
      first.conn.end();
      await gone;
      await expect.poll(async () => {
        const again = await session(cloud.port).catch(() => undefined);
        if (again) conns.push(again.conn);
        return again !== undefined;
      }).toBe(true);
    } finally {
      for (const c of conns) c.end();
      await cloud.stop();
    }
  });

  it('ends an authenticated session that stays idle past the idle timeout', async () => {
    const { cloud } = await cloudWith({ sftpLimits: { idleTimeoutMs: 400 } });
    try {
      const { conn, sftp } = await session(cloud.port);
      const closed = new Promise<number>((resolve) => conn.once('close', () => resolve(performance.now())));
      conn.on('error', () => undefined);
      expect(await readdirOf(sftp, 'inbox')).toEqual([]);
      const lastReply = performance.now();
      const at = await Promise.race([closed, new Promise<number>((_, reject) => setTimeout(() => reject(new Error('idle session still open after 10 s')), 10_000))]);
      expect(at - lastReply).toBeGreaterThanOrEqual(300);
      expect(cloud.stats().sftp_refused.idle_timeouts).toBe(1);
    } finally {
      await cloud.stop();
    }
  });
});

describe('retention sweep', () => {
  it('deletes stale temp uploads and old quarantine entries, never a temp file open for writing', async () => {
    const { cloud, dir } = await cloudWith({ retention: { tempRetentionMs: 3_600_000, quarantineRetentionMs: 86_400_000, sweepIntervalMs: 3_600_000 } });
    const { conn, sftp } = await session(cloud.port);
    try {
      const inbox = join(dir, 'gateways', 'gw-1', 'inbox');
      const old = (Date.now() - 2 * 3_600_000) / 1000;
      // A finished upload never renamed (gateway crashed after closing it), a fresh one, and an old one still open.
      for (const name of ['stale.part', 'stale.tmp', 'fresh.part']) {
        const o = await openFile(sftp, `inbox/${name}`, 'w');
        if (!o.ok) throw new Error(o.message);
        await closeHandle(sftp, o.handle);
      }
      const open = await openFile(sftp, 'inbox/writing.part', 'w');
      if (!open.ok) throw new Error(open.message);
      for (const name of ['stale.part', 'stale.tmp', 'writing.part']) utimesSync(join(inbox, name), old, old);
      // Two quarantine entries from the real producer (files the plain analyser refuses), one made old.
      writeFileSync(join(inbox, 'bad-1.bin'), 'not an rr batch');
      await cloud.flush();
      const qdir = join(dir, 'quarantine', 'gw-1');
      const firstEntry = readdirSync(qdir);
      expect(firstEntry).toHaveLength(2);
      const ancient = (Date.now() - 2 * 86_400_000) / 1000;
      for (const f of firstEntry) utimesSync(join(qdir, f), ancient, ancient);
      writeFileSync(join(inbox, 'bad-2.bin'), 'not an rr batch either');
      await cloud.flush();
      expect(readdirSync(qdir)).toHaveLength(4);

      expect(await cloud.sweep()).toEqual({ temp_files: 2, quarantine_entries: 1 });
      expect(readdirSync(inbox).sort()).toEqual(['fresh.part', 'writing.part']);
      expect(readdirSync(qdir).filter((f) => firstEntry.includes(f))).toEqual([]);
      expect(readdirSync(qdir)).toHaveLength(2);
      expect(cloud.stats()).toMatchObject({ swept_temp_files: 2, swept_quarantine_entries: 1 });

      // Once closed and still old, the abandoned upload goes at the next sweep.
      await closeHandle(sftp, open.handle);
      utimesSync(join(inbox, 'writing.part'), old, old);
      expect(await cloud.sweep()).toEqual({ temp_files: 1, quarantine_entries: 0 });
      expect(readdirSync(inbox)).toEqual(['fresh.part']);
    } finally {
      conn.end();
      await cloud.stop();
    }
  });
});
