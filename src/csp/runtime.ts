/**
 * Starting the CSP from a data directory: its keys are created on first start and kept in files (mode 0600)
 * that only the CSP reads; the SP's public identity is pinned from config.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { exportIdentityPublicKey, importIdentityPublicKey } from '../crypto/index.js';
import { AUDIT_ANCHOR_FILE, fileAnchor, memoryAnchor } from './audit.js';
import { generateCspKeys, loadCspKeys, saveCspKeys, type CspKeys } from './csp-keys.js';
import { CspService } from './csp-service.js';
import { openSqlDb, type SqlDb } from '../sql/index.js';
import { httpTransport, inProcessTransport, type SpEndpoint } from '../protocol/index.js';

/** Loads the CSP's keys from `path`, creating them on first use (Paillier modulus `paillierBits`). */
export async function loadOrCreateCspKeys(path: string, paillierBits: number): Promise<CspKeys> {
  if (existsSync(path)) return loadCspKeys(path);
  const keys = await generateCspKeys('csp', paillierBits);
  await saveCspKeys(path, keys);
  await writeFile(`${path}.pub`, `${exportIdentityPublicKey(keys.identity.publicKey)}\n`);
  return keys;
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
  sp: { inProcess: SpEndpoint; publicKey: KeyObject } | { url: string; publicKey: string };
  /** People a grant of access needs (CspServiceOptions.grantApprovals). */
  grantApprovals?: number;
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
    auditAnchor: opts.dataDir ? fileAnchor(join(opts.dataDir, 'csp', AUDIT_ANCHOR_FILE)) : memoryAnchor(),
    ...(opts.grantApprovals !== undefined ? { grantApprovals: opts.grantApprovals } : {}),
  });
  return { csp, db, keys, close: () => db.close() };
}
