/**
 * The cloud's SFTP ingress (ssh2 server): its own host key, public-key login per gateway, and each gateway
 * confined to its own /inbox (write, rename, list, remove) and /outbox (read, list, remove). Uploads are
 * fsynced on close and renames are atomic and overwrite (POSIX semantics), so "temp name, then rename"
 * publishes a complete file. ssh2's server does not advertise the posix-rename@openssh.com and
 * fsync@openssh.com extensions (its VERSION packet is fixed), so clients use plain RENAME; the two
 * extensions are still honoured if a client sends them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

export interface SftpEvents {
  /** A file under a final (non-temp) name became complete in a gateway's inbox. */
  onUpload?(gateway: string, name: string): void;
  /** An upload, login or path was refused. */
  onReject?(gateway: string | undefined, name: string, err: HrvaultError): void;
}

export interface SftpServerOptions extends SftpEvents {
  /** cloud/ root; gateways live under cloud/gateways/<id>/{inbox,outbox}. */
  root: string;
  host: string;
  port: number;
  hostKeyFile: string;
  gateways: SftpGateway[];
  maxUploadBytes: number;
  /** Filled with `<gateway>/<name>` while a file is open for writing, so the scheduler skips it. */
  writing?: Set<string>;
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

/** Starts the SFTP server; resolves once it listens (port 0 picks a free port). */
export async function startSftpServer(opts: SftpServerOptions): Promise<SftpServerHandle> {
  const host = loadHostKey(opts.hostKeyFile);
  const keys = new Map<string, ParsedKey>();
  for (const g of opts.gateways) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(g.id)) throw new HrvaultError('HRV_ERR_CONFIG', `gateway id '${g.id}' must be 1–64 of [A-Za-z0-9_-]`);
    keys.set(g.id, parseGatewayKey(g));
    for (const area of ['inbox', 'outbox'] as const) mkdirSync(areaDir(opts.root, g.id, area), { recursive: true });
  }
  const connections = new Set<Connection>();
  const server = new Server({ hostKeys: [host.privateKey] }, (client) => {
    connections.add(client);
    let gateway: string | undefined;
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
          gateway = ctx.username;
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
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('sftp', (acceptSftp) => {
          if (!gateway) return;
          serveSftp(acceptSftp(), gateway, opts);
        });
      });
    });
    client.on('error', () => {
      // A client dropping its connection is routine; the session's state is per connection.
    });
    client.on('close', () => connections.delete(client));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return {
    port,
    hostKeyFingerprint: host.fingerprint,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) c.end();
        server.close(() => resolve());
      }),
  };
}

function serveSftp(sftp: SFTPWrapper, gateway: string, opts: SftpServerOptions): void {
  const handles = new Map<number, Handle>();
  let nextHandle = 1;
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

  sftp.on('OPEN', (reqId, filename, flags) =>
    run(reqId, async () => {
      const p = filePath(filename);
      const write = (flags & (OPEN_MODE.WRITE | OPEN_MODE.APPEND | OPEN_MODE.CREAT | OPEN_MODE.TRUNC)) !== 0;
      if (write && p.area !== 'inbox') throw new SftpPathError('/outbox is read-only');
      const mode = utils.sftp.flagsToString(flags);
      if (!mode) throw new SftpPathError(`unsupported open flags ${flags}`);
      const fh = await open(p.path, mode, 0o600);
      if (write) opts.writing?.add(`${gateway}/${p.name}`);
      sftp.handle(reqId, newHandle({ kind: 'file', fh, area: p.area, name: p.name, write, poisoned: false, writes: [] }));
    }),
  );
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
      if (h.write) opts.writing?.delete(`${gateway}/${h.name}`);
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
  sftp.on('OPENDIR', (reqId, path) =>
    run(reqId, async () => {
      const v = resolveVirtualPath(path);
      if (v.kind === 'file') throw new SftpPathError(`'${path}' is not a directory`);
      sftp.handle(reqId, newHandle({ kind: 'dir', area: v.kind === 'dir' ? v.area : null, done: false }));
    }),
  );
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
        if (h.write) opts.writing?.delete(`${gateway}/${h.name}`);
        void h.fh.close().catch(() => undefined);
        if (h.write && isTempName(h.name)) void unlink(join(dirOf(h.area), h.name)).catch(() => undefined);
      }
    }
    handles.clear();
  });
}
