/**
 * The cloud's SFTP ingress (ssh2 server): its own host key, public-key login per gateway, and each gateway
 * confined to its own /inbox (write, rename, list, remove) and /outbox (read, list, remove). Uploads are
 * fsynced on close and renames are atomic and overwrite (POSIX semantics), so "temp name, then rename"
 * publishes a complete file. ssh2's server does not advertise the posix-rename@openssh.com and
 * fsync@openssh.com extensions (its VERSION packet is fixed), so clients use plain RENAME; the two
 * extensions are still honoured if a client sends them.
 *
 * Every resource a peer can make the host hold is bounded (SftpLimits): connections in total and per remote
 * address (refused at TCP accept, before any SSH work), the time to authenticate, concurrent sessions per gateway,
 * open handles per session (an OPEN past the limit gets FAILURE, the session lives on) and the idle time of an
 * authenticated connection.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import ssh2 from 'ssh2';
import { generateSshKeyPair } from '../crypto/index.js';
import type { Attributes, Connection, FileEntry, ParsedKey, SFTPWrapper } from 'ssh2';
import { HrvaultError } from '../errors.js';
import { isTempName, resolveVirtualPath, SftpPathError, type Area } from './paths.js';

const { Server, utils } = ssh2;
const { OPEN_MODE, STATUS_CODE } = utils.sftp;

/** An SFTP upload exceeded the size limit. */
export class SftpSizeError extends HrvaultError {
  constructor(message: string) {
    super('HRV_ERR_SFTP_SIZE', message);
    this.name = 'SftpSizeError';
  }
}

/** A gateway allowed to log in: its id (the SSH user name) and OpenSSH public key line. */
export interface SftpGateway {
  id: string;
  sshPublicKey: string;
}

/** Bounds on what SFTP peers can make the host hold (counts, ms). */
export interface SftpLimits {
  /** Open file and directory handles per SFTP session; an OPEN/OPENDIR beyond it is answered FAILURE. */
  maxHandlesPerSession: number;
  /** Concurrent SFTP sessions (channels) of one gateway over all its connections; a login while it holds this many is refused. */
  maxSessionsPerGateway: number;
  /** Concurrent TCP connections from one remote address (authenticated or not); more are closed at accept. */
  maxConnectionsPerAddress: number;
  /** Concurrent TCP connections in total; more are closed at accept. */
  maxConnections: number;
  /** A connection that has not authenticated this long after its TCP accept is closed (ms). */
  authTimeoutMs: number;
  /** An authenticated connection that sends no SFTP request for this long is ended (ms). */
  idleTimeoutMs: number;
}

/** Defaults: generous for a handful of gateways (each keeps one connection), tight enough that no peer exhausts descriptors. */
export const DEFAULT_SFTP_LIMITS: SftpLimits = {
  maxHandlesPerSession: 64,
  maxSessionsPerGateway: 4,
  maxConnectionsPerAddress: 16,
  maxConnections: 128,
  authTimeoutMs: 30_000,
  idleTimeoutMs: 600_000,
};

/** Which bound refused or ended something. */
export type SftpLimitKind = 'handles' | 'sessions' | 'connections_per_address' | 'connections_total' | 'auth_timeouts' | 'idle_timeouts';

/** A limit of the SFTP ingress was reached. */
export class SftpLimitError extends HrvaultError {
  readonly kind: SftpLimitKind;
  constructor(kind: SftpLimitKind, message: string) {
    super('HRV_ERR_SFTP_LIMIT', message);
    this.name = 'SftpLimitError';
    this.kind = kind;
  }
}

export interface SftpEvents {
  /** A file under a final (non-temp) name became complete in a gateway's inbox. */
  onUpload?(gateway: string, name: string): void;
  /** An upload, login or path was refused. */
  onReject?(gateway: string | undefined, name: string, err: HrvaultError): void;
  /** A limit refused a connection, login, session or handle, or a timeout ended a connection (`remote`: the peer's address). */
  onLimit?(gateway: string | undefined, remote: string, err: SftpLimitError): void;
}

export interface SftpServerOptions extends SftpEvents {
  /** cloud/ root; gateways live under cloud/gateways/<id>/{inbox,outbox}. */
  root: string;
  host: string;
  port: number;
  hostKeyFile: string;
  gateways: SftpGateway[];
  maxUploadBytes: number;
  /** Filled with `<gateway>/<name>` while a file is open for writing, so the scheduler and the retention sweep skip it. */
  writing?: Set<string>;
  /** Missing fields take DEFAULT_SFTP_LIMITS. */
  limits?: Partial<SftpLimits>;
}

export interface SftpServerHandle {
  port: number;
  hostKeyFingerprint: string;
  close(): Promise<void>;
}

/** Directory of a gateway's area on disk. */
export function areaDir(root: string, gateway: string, area: Area): string {
  return join(root, 'gateways', gateway, area);
}

/** Loads the host key from `file`, generating an Ed25519 key there (mode 0600) on first start. */
export function loadHostKey(file: string): { privateKey: string; fingerprint: string } {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    // Written once, readable only by the host's user.
    writeFileSync(file, generateSshKeyPair().private, { mode: 0o600 });
  }
  const privateKey = readFileSync(file, 'utf8');
  const parsed = utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new HrvaultError('HRV_ERR_CONFIG', `host key ${file} is not a valid SSH private key: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0]! : parsed;
  return { privateKey, fingerprint: `SHA256:${createHash('sha256').update(key.getPublicSSH()).digest('base64').replace(/=+$/, '')}` };
}

function parseGatewayKey(g: SftpGateway): ParsedKey {
  const parsed = utils.parseKey(g.sshPublicKey);
  if (parsed instanceof Error) throw new HrvaultError('HRV_ERR_CONFIG', `SSH public key of gateway '${g.id}' is invalid: ${parsed.message}`);
  return Array.isArray(parsed) ? parsed[0]! : parsed;
}

type Handle =
  | { kind: 'file'; fh: FileHandle; area: Area; name: string; write: boolean; poisoned: boolean; writes: Promise<unknown>[] }
  | { kind: 'dir'; area: Area | null; done: boolean };

const DIR_MODE = 0o40755;
const FILE_MODE = 0o100644;

function attrsOf(size: number, mtimeMs: number, dir: boolean): Attributes {
  const t = Math.floor(mtimeMs / 1000);
  return { mode: dir ? DIR_MODE : FILE_MODE, uid: 0, gid: 0, size, atime: t, mtime: t };
}

/** Validates limits (each a positive integer) and fills the missing ones from the defaults. */
export function resolveSftpLimits(partial: Partial<SftpLimits> = {}): SftpLimits {
  const limits = { ...DEFAULT_SFTP_LIMITS, ...partial };
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new HrvaultError('HRV_ERR_CONFIG', `SFTP limit ${k} must be a positive integer (got ${String(v)})`);
  }
  return limits;
}

/** Refcounted marks of files open for writing, mirrored into the caller's `writing` set (two sessions may write one name). */
class WritingMarks {
  private readonly counts = new Map<string, number>();
  constructor(private readonly set: Set<string> | undefined) {}
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.set?.add(key);
  }
  delete(key: string): void {
    const n = (this.counts.get(key) ?? 0) - 1;
    if (n > 0) return void this.counts.set(key, n);
    this.counts.delete(key);
    this.set?.delete(key);
  }
}

/** Per-gateway counters of authenticated connections and SFTP sessions. */
class Tally {
  private readonly m = new Map<string, number>();
  get(k: string): number {
    return this.m.get(k) ?? 0;
  }
  inc(k: string): void {
    this.m.set(k, this.get(k) + 1);
  }
  dec(k: string): void {
    const n = this.get(k) - 1;
    if (n > 0) this.m.set(k, n);
    else this.m.delete(k);
  }
}

/** A connection an ended peer may leave half-open gets this long (ms) before its socket is destroyed. */
const END_GRACE_MS = 2000;

/** Starts the SFTP server; resolves once it listens (port 0 picks a free port). */
export async function startSftpServer(opts: SftpServerOptions): Promise<SftpServerHandle> {
  const limits = resolveSftpLimits(opts.limits);
  const host = loadHostKey(opts.hostKeyFile);
  const keys = new Map<string, ParsedKey>();
  for (const g of opts.gateways) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(g.id)) throw new HrvaultError('HRV_ERR_CONFIG', `gateway id '${g.id}' must be 1–64 of [A-Za-z0-9_-]`);
    keys.set(g.id, parseGatewayKey(g));
    for (const area of ['inbox', 'outbox'] as const) mkdirSync(areaDir(opts.root, g.id, area), { recursive: true });
  }
  const limit = (kind: SftpLimitKind, gateway: string | undefined, remote: string, message: string): void =>
    opts.onLimit?.(gateway, remote, new SftpLimitError(kind, message));
  const writing = new WritingMarks(opts.writing);
  const gatewayConnections = new Tally();
  const gatewaySessions = new Tally();
  /** Accepted TCP connections by `<address>|<port>`, so the SSH layer's connection can find its socket and deadline. */
  const accepted = new Map<string, { socket: Socket; authTimer: NodeJS.Timeout; authenticated: boolean }>();
  const perAddress = new Tally();
  const sockets = new Set<Socket>();
  const connections = new Set<Connection>();
  const endGently = (client: Connection, socket: Socket | undefined): void => {
    client.end();
    // A peer that ignores the disconnect must not keep the descriptor.
    if (socket) setTimeout(() => socket.destroy(), END_GRACE_MS).unref();
  };

  const server = new Server({ hostKeys: [host.privateKey] }, (client, info) => {
    const conn = accepted.get(`${info.ip}|${info.port}`);
    connections.add(client);
    let gateway: string | undefined;
    let idleTimer: NodeJS.Timeout | undefined;
    /** Releases the per-gateway count of each session of this connection still open. */
    const sessionEnds = new Set<() => void>();
    /** Any SFTP request from this connection restarts its idle deadline. */
    const touch = (): void => void idleTimer?.refresh();
    client.on('authentication', (ctx) => {
      const key = keys.get(ctx.username);
      if (ctx.method !== 'publickey' || !key) {
        if (ctx.method !== 'none') opts.onReject?.(undefined, ctx.username, new HrvaultError('HRV_ERR_SFTP_AUTH', `login refused for '${ctx.username}' (${ctx.method})`));
        ctx.reject(['publickey']);
        return;
      }
      const presented = ctx.key.data;
      const enrolled = key.getPublicSSH();
      if (ctx.key.algo !== key.type || presented.length !== enrolled.length || !timingSafeEqual(presented, enrolled)) {
        opts.onReject?.(ctx.username, ctx.username, new HrvaultError('HRV_ERR_SFTP_AUTH', `gateway '${ctx.username}' presented a key that is not enrolled`));
        ctx.reject(['publickey']);
        return;
      }
      if (ctx.signature && ctx.blob) {
        if (key.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) {
          // Counted at the decision (synchronously), so logins racing each other cannot all pass the check.
          if (gatewayConnections.get(ctx.username) >= limits.maxSessionsPerGateway || gatewaySessions.get(ctx.username) >= limits.maxSessionsPerGateway) {
            limit('sessions', ctx.username, info.ip, `gateway '${ctx.username}' already holds ${limits.maxSessionsPerGateway} sessions; login refused`);
            ctx.reject([]);
            return;
          }
          gateway = ctx.username;
          gatewayConnections.inc(gateway);
          ctx.accept();
        } else {
          opts.onReject?.(ctx.username, ctx.username, new HrvaultError('HRV_ERR_SFTP_AUTH', `gateway '${ctx.username}' signature did not verify`));
          ctx.reject(['publickey']);
        }
        return;
      }
      ctx.accept(); // key query: the client will now sign
    });
    client.on('ready', () => {
      if (conn) {
        clearTimeout(conn.authTimer);
        conn.authenticated = true;
      }
      idleTimer = setTimeout(() => {
        limit('idle_timeouts', gateway, info.ip, `gateway '${gateway ?? '?'}' sent no SFTP request for ${limits.idleTimeoutMs} ms; connection ended`);
        endGently(client, conn?.socket);
      }, limits.idleTimeoutMs);
      idleTimer.unref();
      client.on('session', (acceptSession, rejectSession) => {
        if (!gateway) return rejectSession();
        if (gatewaySessions.get(gateway) >= limits.maxSessionsPerGateway) {
          limit('sessions', gateway, info.ip, `gateway '${gateway}' already holds ${limits.maxSessionsPerGateway} sessions; session refused`);
          return rejectSession();
        }
        const g = gateway;
        gatewaySessions.inc(g);
        const session = acceptSession();
        // ssh2 emits a session's 'close' only for the peer's CHANNEL_CLOSE, not when the connection drops: both end it.
        let ended = false;
        const endSession = (): void => {
          if (ended) return;
          ended = true;
          sessionEnds.delete(endSession);
          gatewaySessions.dec(g);
        };
        sessionEnds.add(endSession);
        session.once('close', endSession);
        session.on('sftp', (acceptSftp) => {
          serveSftp(acceptSftp(), g, opts, limits, writing, touch, (msg) => limit('handles', g, info.ip, msg));
        });
      });
    });
    client.on('error', () => {
      // A client dropping its connection is routine; the session's state is per connection.
    });
    client.on('close', () => {
      connections.delete(client);
      clearTimeout(idleTimer);
      for (const end of [...sessionEnds]) end();
      if (gateway) gatewayConnections.dec(gateway);
    });
  });

  // The TCP layer is ours: limits apply at accept, before any key exchange work, and the authentication deadline
  // also covers a peer that never sends its identification line (ssh2 sees such a peer only once it speaks).
  const tcp = createServer((socket) => {
    const ip = socket.remoteAddress ?? 'unknown';
    if (sockets.size >= limits.maxConnections) {
      limit('connections_total', undefined, ip, `${limits.maxConnections} connections open; connection from ${ip} refused`);
      socket.destroy();
      return;
    }
    if (perAddress.get(ip) >= limits.maxConnectionsPerAddress) {
      limit('connections_per_address', undefined, ip, `${limits.maxConnectionsPerAddress} connections open from ${ip}; connection refused`);
      socket.destroy();
      return;
    }
    const id = `${ip}|${socket.remotePort ?? 0}`;
    sockets.add(socket);
    perAddress.inc(ip);
    const authTimer = setTimeout(() => {
      limit('auth_timeouts', undefined, ip, `connection from ${ip} did not authenticate within ${limits.authTimeoutMs} ms; closed`);
      socket.destroy();
    }, limits.authTimeoutMs);
    authTimer.unref();
    accepted.set(id, { socket, authTimer, authenticated: false });
    socket.once('close', () => {
      clearTimeout(authTimer);
      accepted.delete(id);
      sockets.delete(socket);
      perAddress.dec(ip);
    });
    server.injectSocket(socket);
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(opts.port, opts.host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
  tcp.on('error', () => {
    // Accept errors (EMFILE under pressure) are transient; the listener keeps serving.
  });
  const addr = tcp.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return {
    port,
    hostKeyFingerprint: host.fingerprint,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) c.end();
        for (const a of accepted.values()) {
          if (a.authenticated) setTimeout(() => a.socket.destroy(), END_GRACE_MS).unref();
          else a.socket.destroy();
        }
        tcp.close(() => resolve());
      }),
  };
}

/** SFTP requests a client can send; each one restarts the connection's idle deadline. */
const REQUESTS = ['OPEN', 'READ', 'WRITE', 'FSTAT', 'FSETSTAT', 'CLOSE', 'OPENDIR', 'READDIR', 'LSTAT', 'STAT', 'REMOVE', 'RMDIR', 'REALPATH', 'READLINK', 'SETSTAT', 'MKDIR', 'RENAME', 'SYMLINK', 'EXTENDED'] as const;

function serveSftp(sftp: SFTPWrapper, gateway: string, opts: SftpServerOptions, limits: SftpLimits, writing: WritingMarks, touch: () => void, onHandleLimit: (message: string) => void): void {
  const handles = new Map<number, Handle>();
  /** OPENs admitted but not yet answered: pipelined requests must not all pass the check before the first resolves. */
  let opening = 0;
  let nextHandle = 1;
  for (const ev of REQUESTS) sftp.on(ev, touch);
  /** Admits one more handle, or answers FAILURE (the session stays usable) and returns false. */
  const admitHandle = (reqId: number): boolean => {
    if (handles.size + opening < limits.maxHandlesPerSession) return true;
    const msg = `too many open handles (limit ${limits.maxHandlesPerSession}); close one first`;
    onHandleLimit(`gateway '${gateway}': ${msg}`);
    sftp.status(reqId, STATUS_CODE.FAILURE, msg);
    return false;
  };
  const dirOf = (area: Area): string => areaDir(opts.root, gateway, area);
  const newHandle = (h: Handle): Buffer => {
    const id = nextHandle++;
    handles.set(id, h);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(id, 0);
    return b;
  };
  const getHandle = (b: Buffer): [number, Handle | undefined] => {
    const id = b.length === 4 ? b.readUInt32BE(0) : -1;
    return [id, handles.get(id)];
  };
  const deny = (reqId: number, err: unknown): void => {
    if (err instanceof SftpPathError) {
      opts.onReject?.(gateway, '(path)', err);
      sftp.status(reqId, STATUS_CODE.PERMISSION_DENIED, err.message);
    } else if (err instanceof HrvaultError) {
      sftp.status(reqId, STATUS_CODE.FAILURE, err.message);
    } else {
      const code = (err as NodeJS.ErrnoException | undefined)?.code;
      sftp.status(reqId, code === 'ENOENT' ? STATUS_CODE.NO_SUCH_FILE : STATUS_CODE.FAILURE, code === 'ENOENT' ? 'no such file' : 'operation failed');
    }
  };
  const filePath = (raw: string): { area: Area; name: string; path: string } => {
    const v = resolveVirtualPath(raw);
    if (v.kind !== 'file') throw new SftpPathError(`'${raw}' is not a file path`);
    return { area: v.area, name: v.name, path: join(dirOf(v.area), v.name) };
  };
  const doRename = async (reqId: number, from: string, to: string): Promise<void> => {
    const a = filePath(from);
    const b = filePath(to);
    if (a.area !== 'inbox' || b.area !== 'inbox') throw new SftpPathError('renames are allowed only within /inbox');
    await rename(a.path, b.path);
    sftp.status(reqId, STATUS_CODE.OK);
    if (!isTempName(b.name)) opts.onUpload?.(gateway, b.name);
  };
  const run = (reqId: number, fn: () => Promise<void>): void => {
    fn().catch((err: unknown) => deny(reqId, err));
  };

  sftp.on('OPEN', (reqId, filename, flags) => {
    if (!admitHandle(reqId)) return;
    opening++;
    let marked: string | undefined;
    run(reqId, async () => {
      try {
        const p = filePath(filename);
        const write = (flags & (OPEN_MODE.WRITE | OPEN_MODE.APPEND | OPEN_MODE.CREAT | OPEN_MODE.TRUNC)) !== 0;
        if (write && p.area !== 'inbox') throw new SftpPathError('/outbox is read-only');
        const mode = utils.sftp.flagsToString(flags);
        if (!mode) throw new SftpPathError(`unsupported open flags ${flags}`);
        // Marked before the open, so the retention sweep never deletes a file between its open and its mark.
        if (write) writing.add((marked = `${gateway}/${p.name}`));
        const fh = await open(p.path, mode, 0o600);
        marked = undefined;
        sftp.handle(reqId, newHandle({ kind: 'file', fh, area: p.area, name: p.name, write, poisoned: false, writes: [] }));
      } finally {
        opening--;
        if (marked !== undefined) writing.delete(marked);
      }
    });
  });
  sftp.on('WRITE', (reqId, hb, offset, data) => {
    const [, h] = getHandle(hb);
    if (!h || h.kind !== 'file' || !h.write) return sftp.status(reqId, STATUS_CODE.FAILURE, 'bad handle');
    if (h.poisoned || offset + data.length > opts.maxUploadBytes) {
      if (!h.poisoned) opts.onReject?.(gateway, h.name, new SftpSizeError(`upload '${h.name}' exceeds ${opts.maxUploadBytes} bytes`));
      h.poisoned = true;
      return sftp.status(reqId, STATUS_CODE.FAILURE, `upload exceeds ${opts.maxUploadBytes} bytes`);
    }
    const w = h.fh.write(data, 0, data.length, offset);
    h.writes.push(w);
    w.then(
      () => sftp.status(reqId, STATUS_CODE.OK),
      (err: unknown) => deny(reqId, err),
    );
  });
  sftp.on('READ', (reqId, hb, offset, len) =>
    run(reqId, async () => {
      const [, h] = getHandle(hb);
      if (!h || h.kind !== 'file') throw new HrvaultError('HRV_ERR_SFTP_PATH', 'bad handle');
      const buf = Buffer.alloc(Math.min(len, 256 * 1024));
      const { bytesRead } = await h.fh.read(buf, 0, buf.length, offset);
      if (bytesRead === 0) sftp.status(reqId, STATUS_CODE.EOF);
      else sftp.data(reqId, buf.subarray(0, bytesRead));
    }),
  );
  sftp.on('FSTAT', (reqId, hb) =>
    run(reqId, async () => {
      const [, h] = getHandle(hb);
      if (!h || h.kind !== 'file') throw new HrvaultError('HRV_ERR_SFTP_PATH', 'bad handle');
      const s = await h.fh.stat();
      sftp.attrs(reqId, attrsOf(s.size, s.mtimeMs, false));
    }),
  );
  const fsync = async (h: Handle): Promise<void> => {
    if (h.kind === 'file' && h.write) {
      await Promise.allSettled(h.writes);
      await h.fh.sync();
    }
  };
  sftp.on('CLOSE', (reqId, hb) =>
    run(reqId, async () => {
      const [id, h] = getHandle(hb);
      if (!h) throw new HrvaultError('HRV_ERR_SFTP_PATH', 'bad handle');
      handles.delete(id);
      if (h.kind === 'dir') return sftp.status(reqId, STATUS_CODE.OK);
      if (h.write) writing.delete(`${gateway}/${h.name}`);
      try {
        await fsync(h);
      } finally {
        await h.fh.close();
      }
      if (h.poisoned) {
        await unlink(join(dirOf(h.area), h.name)).catch(() => undefined);
        return sftp.status(reqId, STATUS_CODE.FAILURE, `upload exceeded ${opts.maxUploadBytes} bytes and was discarded`);
      }
      sftp.status(reqId, STATUS_CODE.OK);
      if (h.write && !isTempName(h.name)) opts.onUpload?.(gateway, h.name);
    }),
  );
  sftp.on('OPENDIR', (reqId, path) => {
    if (!admitHandle(reqId)) return;
    run(reqId, async () => {
      const v = resolveVirtualPath(path);
      if (v.kind === 'file') throw new SftpPathError(`'${path}' is not a directory`);
      sftp.handle(reqId, newHandle({ kind: 'dir', area: v.kind === 'dir' ? v.area : null, done: false }));
    });
  });
  sftp.on('READDIR', (reqId, hb) =>
    run(reqId, async () => {
      const [, h] = getHandle(hb);
      if (!h || h.kind !== 'dir') throw new HrvaultError('HRV_ERR_SFTP_PATH', 'bad handle');
      if (h.done) return sftp.status(reqId, STATUS_CODE.EOF);
      h.done = true;
      const now = Date.now();
      if (h.area === null) {
        const dirs: FileEntry[] = (['inbox', 'outbox'] as const).map((a) => ({ filename: a, longname: `drwxr-xr-x 1 0 0 0 ${a}`, attrs: attrsOf(0, now, true) }));
        return sftp.name(reqId, dirs);
      }
      const dir = dirOf(h.area);
      const entries: FileEntry[] = [];
      for (const name of await readdir(dir)) {
        const s = await stat(join(dir, name)).catch(() => null);
        if (!s?.isFile()) continue;
        entries.push({ filename: name, longname: `-rw-r--r-- 1 0 0 ${s.size} ${name}`, attrs: attrsOf(s.size, s.mtimeMs, false) });
      }
      if (entries.length === 0) return sftp.status(reqId, STATUS_CODE.EOF);
      sftp.name(reqId, entries);
    }),
  );
  const statPath = (reqId: number, path: string): void =>
    run(reqId, async () => {
      const v = resolveVirtualPath(path);
      if (v.kind !== 'file') return sftp.attrs(reqId, attrsOf(0, Date.now(), true));
      const s = await stat(join(dirOf(v.area), v.name));
      sftp.attrs(reqId, attrsOf(s.size, s.mtimeMs, false));
    });
  sftp.on('STAT', statPath);
  sftp.on('LSTAT', statPath);
  sftp.on('REALPATH', (reqId, path) =>
    run(reqId, async () => {
      const v = resolveVirtualPath(path);
      const p = v.kind === 'root' ? '/' : v.kind === 'dir' ? `/${v.area}` : `/${v.area}/${v.name}`;
      sftp.name(reqId, [{ filename: p, longname: p, attrs: attrsOf(0, Date.now(), v.kind !== 'file') }]);
    }),
  );
  sftp.on('REMOVE', (reqId, path) =>
    run(reqId, async () => {
      await unlink(filePath(path).path);
      sftp.status(reqId, STATUS_CODE.OK);
    }),
  );
  sftp.on('RENAME', (reqId, from, to) => run(reqId, () => doRename(reqId, from, to)));
  sftp.on('EXTENDED', (reqId, name, data) =>
    run(reqId, async () => {
      if (name === 'posix-rename@openssh.com') {
        const a = data.readUInt32BE(0);
        const from = data.subarray(4, 4 + a).toString('utf8');
        const b = data.readUInt32BE(4 + a);
        const to = data.subarray(8 + a, 8 + a + b).toString('utf8');
        return doRename(reqId, from, to);
      }
      if (name === 'fsync@openssh.com') {
        const n = data.readUInt32BE(0);
        const [, h] = getHandle(data.subarray(4, 4 + n));
        if (!h) throw new HrvaultError('HRV_ERR_SFTP_PATH', 'bad handle');
        await fsync(h);
        return sftp.status(reqId, STATUS_CODE.OK);
      }
      sftp.status(reqId, STATUS_CODE.OP_UNSUPPORTED, `${name} is not supported`);
    }),
  );
  const ok = (reqId: number): void => sftp.status(reqId, STATUS_CODE.OK);
  sftp.on('SETSTAT', ok);
  sftp.on('FSETSTAT', ok);
  const denied = (reqId: number): void => sftp.status(reqId, STATUS_CODE.PERMISSION_DENIED, 'not allowed');
  sftp.on('MKDIR', denied);
  sftp.on('RMDIR', denied);
  sftp.on('SYMLINK', denied);
  sftp.on('READLINK', denied);
  sftp.on('close', () => {
    for (const h of handles.values()) {
      if (h.kind === 'file') {
        if (h.write) writing.delete(`${gateway}/${h.name}`);
        void h.fh.close().catch(() => undefined);
        if (h.write && isTempName(h.name)) void unlink(join(dirOf(h.area), h.name)).catch(() => undefined);
      }
    }
    handles.clear();
  });
}
