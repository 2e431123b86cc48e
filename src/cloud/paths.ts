/**
 * SFTP path confinement. Each gateway sees a virtual tree with exactly two directories, `/inbox` and
 * `/outbox`, mapped onto cloud/gateways/<id>/. Names are checked against a strict pattern before any
 * filesystem call, so `..`, nested paths, hidden files, control characters and anything outside the two
 * directories are refused without touching the disk.
 */
import { FILE_NAME } from '../contracts/index.js';
import { HrvaultError } from '../errors.js';

/** An SFTP path was refused. */
export class SftpPathError extends HrvaultError {
  constructor(message: string) {
    super('HRV_ERR_SFTP_PATH', message);
    this.name = 'SftpPathError';
  }
}

/** Allowed file names (declared with the other wire shapes in contracts). */
export { FILE_NAME };

/** Names that are still being written (temp names); the scheduler never takes them. */
export function isTempName(name: string): boolean {
  return name.endsWith('.tmp') || name.endsWith('.part');
}

export type Area = 'inbox' | 'outbox';

/** A resolved virtual path: the root, one of the two directories, or a file in one. */
export type VirtualPath = { kind: 'root' } | { kind: 'dir'; area: Area } | { kind: 'file'; area: Area; name: string };

/** Resolves a client path (relative to the virtual root, or absolute within it) or throws SftpPathError. */
export function resolveVirtualPath(raw: string): VirtualPath {
  if (typeof raw !== 'string' || raw.length > 512) throw new SftpPathError('path is missing or too long');
  // eslint-disable-next-line no-control-regex -- control characters are exactly what must be refused
  if (/[\0-\x1f\\]/.test(raw)) throw new SftpPathError(`path contains a control character or backslash`);
  const segs = raw.split('/').filter((s, i) => !(s === '' || (s === '.' && i === 0)));
  if (segs.includes('..')) throw new SftpPathError(`path '${raw}' contains '..'`);
  if (segs.some((s) => s === '.')) throw new SftpPathError(`path '${raw}' contains '.'`);
  if (segs.length === 0) return { kind: 'root' };
  const area = segs[0];
  if (area !== 'inbox' && area !== 'outbox') throw new SftpPathError(`path '${raw}' is outside /inbox and /outbox`);
  if (segs.length === 1) return { kind: 'dir', area };
  if (segs.length > 2) throw new SftpPathError(`path '${raw}' is nested; only files directly in /${area} are allowed`);
  const name = segs[1]!;
  if (!FILE_NAME.test(name)) throw new SftpPathError(`file name '${name}' is not allowed (letters, digits, . _ -; no leading dot)`);
  return { kind: 'file', area, name };
}
