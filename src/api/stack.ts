/**
 * The access stack in one process — SP, CSP and HTTP API — as `hrvault serve` and `hrvault demo` run it.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadOrCreateCspKeys, startCsp } from '../csp/index.js';
import { startSp } from '../sp/index.js';
import { generateCspKeys } from '../csp/index.js';
import type { CspService } from '../csp/index.js';
import { buildApi } from './server.js';

export interface AccessStackOptions {
  /** Keys and embedded databases live here; without it everything is in memory. */
  dataDir?: string;
  /** postgres://… for the SP instead of the embedded database. */
  spDb?: string;
  /** Most connections the SP opens to spDb (default 8). */
  spDbPoolMax?: number;
  port: number;
  host?: string;
  paillierBits?: number;
  /** Directory of the built dashboard, served at `/`. */
  webRoot?: string;
  /** Client addresses from X-Forwarded-For (behind a reverse proxy only; default false). */
  trustProxy?: boolean | string;
  /** People a grant of access needs (CspServiceOptions.grantApprovals). */
  grantApprovals?: number;
}

export interface AccessStack {
  csp: CspService;
  /** e.g. http://127.0.0.1:8080 */
  address: string;
  close(): Promise<void>;
}

/** Starts SP, CSP and the API; the CSP's handshake with the SP runs before this resolves. */
export async function startAccessStack(o: AccessStackOptions): Promise<AccessStack> {
  const bits = o.paillierBits ?? 2048;
  let keys;
  if (o.dataDir) {
    await mkdir(join(o.dataDir, 'csp'), { recursive: true, mode: 0o700 });
    keys = await loadOrCreateCspKeys(join(o.dataDir, 'csp', 'keys.json'), bits);
  } else {
    keys = await generateCspKeys('csp', bits);
  }
  const sp = await startSp({
    ...(o.dataDir ? { dataDir: o.dataDir } : {}),
    ...(o.spDb ? { spDb: o.spDb } : {}),
    ...(o.spDbPoolMax !== undefined ? { spDbPoolMax: o.spDbPoolMax } : {}),
    cspPublicKey: keys.identity.publicKey,
  });
  const csp = await startCsp({ ...(o.dataDir ? { dataDir: o.dataDir } : {}), keys, sp: { inProcess: sp.sp, publicKey: sp.identity.publicKey }, ...(o.grantApprovals !== undefined ? { grantApprovals: o.grantApprovals } : {}) });
  const api = await buildApi({ csp: csp.csp, trustProxy: o.trustProxy ?? false, ...(o.webRoot !== undefined ? { webRoot: o.webRoot } : {}) });
  const address = await api.listen({ port: o.port, host: o.host ?? '127.0.0.1' });
  return {
    csp: csp.csp,
    address,
    async close() {
      await api.close();
      await csp.close();
      await sp.close();
    },
  };
}
