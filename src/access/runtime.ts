/**
 * Starting the CSP and the SP from a data directory: keys are created on first start and kept in files
 * (mode 0600) that only the owning component reads; the peer's public identity is pinned from config.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import {
  exportIdentity,
  exportIdentityPublicKey,
  generateIdentity,
  importIdentity,
  importIdentityPublicKey,
  type IdentityKeyPair,
} from '../crypto/index.js';
import { fileAnchor, memoryAnchor } from './audit.js';
import { generateCspKeys, loadCspKeys, saveCspKeys, type CspKeys } from './csp-keys.js';
import { CspService } from './csp-service.js';
import { SpService } from './sp-service.js';
import { openSqlDb, type SqlDb } from './sql.js';
import { httpTransport, inProcessTransport } from './transport.js';

/** Loads an identity from `path`, creating it (and `path.pub`) on first use. */
export async function loadOrCreateIdentity(path: string, id: string): Promise<IdentityKeyPair> {
  if (existsSync(path)) return importIdentity(await readFile(path, 'utf8'));
  const identity = generateIdentity(id);
  await writeFile(path, exportIdentity(identity), { mode: 0o600 });
  await writeFile(`${path}.pub`, `${exportIdentityPublicKey(identity.publicKey)}\n`);
  return identity;
}

/** Loads the CSP's keys from `path`, creating them on first use (Paillier modulus `paillierBits`). */
export async function loadOrCreateCspKeys(path: string, paillierBits: number): Promise<CspKeys> {
  if (existsSync(path)) return loadCspKeys(path);
  const keys = await generateCspKeys('csp', paillierBits);
  await saveCspKeys(path, keys);
  await writeFile(`${path}.pub`, `${exportIdentityPublicKey(keys.identity.publicKey)}\n`);
  return keys;
}

/** Where the SP keeps its data: a PGlite directory, `memory:`, or a postgres:// URL. */
function spLocation(dataDir: string | undefined, spDb: string | undefined): string {
  if (spDb) return spDb;
  return dataDir ? join(dataDir, 'sp', 'db') : 'memory:';
}

export interface SpRuntime {
  sp: SpService;
  db: SqlDb;
  identity: IdentityKeyPair;
  close(): Promise<void>;
}

/** Starts an SP on `dataDir` (or in memory) pinned to the CSP identity `cspPublicKey`. */
export async function startSp(opts: { dataDir?: string; spDb?: string; cspPublicKey: KeyObject }): Promise<SpRuntime> {
  if (opts.dataDir) await mkdir(join(opts.dataDir, 'sp'), { recursive: true, mode: 0o700 });
  const identity = opts.dataDir ? await loadOrCreateIdentity(join(opts.dataDir, 'sp', 'identity.json'), 'sp') : generateIdentity('sp');
  const db = await openSqlDb(spLocation(opts.dataDir, opts.spDb));
  const sp = await SpService.create({ identity, csp: { id: 'csp', publicKey: opts.cspPublicKey }, db, reorderWindow: 64 });
  return { sp, db, identity, close: () => db.close() };
}

export interface CspRuntime {
  csp: CspService;
  db: SqlDb;
  keys: CspKeys;
  close(): Promise<void>;
}

/** Starts the CSP, reaching the SP in-process (`sp`) or over HTTP (`spUrl` + pinned `spPublicKey`). */
export async function startCsp(opts: {
  dataDir?: string;
  paillierBits?: number;
  keys?: CspKeys;
  sp: { inProcess: SpService; publicKey: KeyObject } | { url: string; publicKey: string };
}): Promise<CspRuntime> {
  if (opts.dataDir) await mkdir(join(opts.dataDir, 'csp'), { recursive: true, mode: 0o700 });
  const keys =
    opts.keys ??
    (opts.dataDir ? await loadOrCreateCspKeys(join(opts.dataDir, 'csp', 'keys.json'), opts.paillierBits ?? 2048) : await generateCspKeys('csp', opts.paillierBits ?? 2048));
  const db = await openSqlDb(opts.dataDir ? join(opts.dataDir, 'csp', 'db') : 'memory:');
  const sp =
    'inProcess' in opts.sp
      ? { id: 'sp', publicKey: opts.sp.publicKey, transport: inProcessTransport(opts.sp.inProcess) }
      : { id: 'sp', publicKey: importIdentityPublicKey(opts.sp.publicKey), transport: httpTransport(opts.sp.url) };
  const csp = await CspService.create({
    keys,
    db,
    sp,
    auditAnchor: opts.dataDir ? fileAnchor(join(opts.dataDir, 'csp', 'audit-anchor.json')) : memoryAnchor(),
  });
  return { csp, db, keys, close: () => db.close() };
}
