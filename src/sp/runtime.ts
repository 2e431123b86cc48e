/**
 * Starting the SP from a data directory: its identity is created on first start and kept in a file (mode 0600)
 * that only the SP reads; the CSP's public identity is pinned from config.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { exportIdentity, exportIdentityPublicKey, generateIdentity, importIdentity, type IdentityKeyPair } from '../crypto/index.js';
import { openSqlDb, type SqlDb } from '../sql/index.js';
import { SpService } from './sp-service.js';

/** Loads an identity from `path`, creating it (and `path.pub`) on first use. */
export async function loadOrCreateIdentity(path: string, id: string): Promise<IdentityKeyPair> {
  if (existsSync(path)) return importIdentity(await readFile(path, 'utf8'));
  const identity = generateIdentity(id);
  await writeFile(path, exportIdentity(identity), { mode: 0o600 });
  await writeFile(`${path}.pub`, `${exportIdentityPublicKey(identity.publicKey)}\n`);
  return identity;
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

/**
 * Starts an SP on `dataDir` (or in memory) pinned to the CSP identity `cspPublicKey`; `spDbPoolMax` bounds the
 * connections to a PostgreSQL `spDb`. A refused start (say, a schema newer than this code) closes the database.
 */
export async function startSp(opts: { dataDir?: string; spDb?: string; spDbPoolMax?: number; cspPublicKey: KeyObject }): Promise<SpRuntime> {
  if (opts.dataDir) await mkdir(join(opts.dataDir, 'sp'), { recursive: true, mode: 0o700 });
  const identity = opts.dataDir ? await loadOrCreateIdentity(join(opts.dataDir, 'sp', 'identity.json'), 'sp') : generateIdentity('sp');
  const db = await openSqlDb(spLocation(opts.dataDir, opts.spDb), opts.spDbPoolMax === undefined ? {} : { poolMax: opts.spDbPoolMax });
  try {
    const sp = await SpService.create({ identity, csp: { id: 'csp', publicKey: opts.cspPublicKey }, db, reorderWindow: 64 });
    return { sp, db, identity, close: () => db.close() };
  } catch (err) {
    await db.close().catch(() => undefined); // the refusal is the error worth reporting
    throw err;
  }
}

