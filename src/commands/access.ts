/**
 * `hrvault serve`, `hrvault sp`, `hrvault csp` and `hrvault audit verify`: the access side of the system,
 * together in one process or as separate services.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { z } from 'zod';
import { exportIdentityPublicKey, importIdentityPublicKey } from '../crypto/handshake.js';
import { loadOrCreateCspKeys, loadOrCreateIdentity, startCsp, startSp } from '../access/runtime.js';
import { mkdir } from 'node:fs/promises';
import { startAccessStack } from '../api/stack.js';
import { loadCspKeys } from '../access/csp-keys.js';
import { AuditLog, fileAnchor } from '../access/audit.js';
import { openSqlDb } from '../access/sql.js';
import { buildSpHttp, SP_WIRE_PATH } from '../access/sp-http.js';
import { buildApi } from '../api/server.js';
import { ConfigError } from '../errors.js';
import type { CspService } from '../access/csp-service.js';
import { ensurePortFree, isAddressInUse, portInUseError, stopOnSignal } from './lifecycle.js';

const portSchema = z.coerce.number().int().min(0).max(65_535);

/** The built dashboard (`npm run build:web`), the same path from src/commands and dist/commands. */
export const DASHBOARD_ROOT = fileURLToPath(new URL('../../dist/web/', import.meta.url));

/** True when the dashboard has been built; without it the API runs alone. */
export function dashboardBuilt(): boolean {
  return existsSync(join(DASHBOARD_ROOT, 'index.html'));
}

function parse<T>(schema: z.ZodType<T>, value: unknown, name: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new ConfigError(`${name}: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}

/** Registers the first admin when the store has no users and a password was given. */
async function bootstrapAdmin(csp: CspService, password: string | undefined): Promise<void> {
  if (!password) return;
  try {
    await csp.registerUser('bootstrap', { username: 'admin', password, role: 'admin' });
    process.stderr.write('registered user "admin"\n');
  } catch (err) {
    if (!(err instanceof Error && /taken/.test(err.message))) throw err;
  }
}

/**
 * Runs until SIGINT or SIGTERM, then closes. Signals that come while it closes do not cut the close short
 * (see stopOnSignal); a failed close is reported and the process still exits.
 */
async function waitForSignal(close: () => Promise<void>): Promise<void> {
  const signals = stopOnSignal();
  try {
    await signals.stopped;
    await close().catch((err: unknown) => {
      process.stderr.write(`hrvault: error while stopping: ${String(err)}\n`);
    });
  } finally {
    signals.dispose();
  }
}

/** Maps EADDRINUSE from a listen to the one-line error (exit 2); anything else passes through. */
function portError(port: number, host: string): (err: unknown) => never {
  return (err) => {
    throw isAddressInUse(err) ? portInUseError('--port', port, host, err) : err;
  };
}

export function registerAccessCommands(program: Command): void {
  program
    .command('serve')
    .description('run the CSP and the SP together with the HTTP API')
    .option('--data-dir <dir>', 'where keys and the embedded databases live', process.env.HRVAULT_DATA_DIR ?? './hrvault-data')
    .option('--sp-db <url>', 'SP storage: postgres://… (default: embedded database in the data dir)', process.env.HRVAULT_SP_DB)
    .option('--port <n>', 'HTTP port', process.env.HRVAULT_PORT ?? '8080')
    .option('--host <addr>', 'HTTP address', process.env.HRVAULT_HOST ?? '127.0.0.1')
    .option('--paillier-bits <n>', 'Paillier modulus size at first start', process.env.HRVAULT_PAILLIER_BITS ?? '2048')
    .action(async (o: { dataDir: string; spDb?: string; port: string; host: string; paillierBits: string }) => {
      const port = parse(portSchema, o.port, '--port');
      const paillierBits = parse(z.coerce.number().int().min(1024).max(4096), o.paillierBits, '--paillier-bits');
      await ensurePortFree('--port', port, o.host);
      const stack = await startAccessStack({
        ...(dashboardBuilt() ? { webRoot: DASHBOARD_ROOT } : {}),
        dataDir: o.dataDir,
        ...(o.spDb ? { spDb: o.spDb } : {}),
        port,
        host: o.host,
        paillierBits,
      }).catch(portError(port, o.host));
      await bootstrapAdmin(stack.csp, process.env.HRVAULT_ADMIN_PASSWORD);
      process.stderr.write(`hrvault serve: dashboard at ${stack.address}/, API at ${stack.address}/api/v1 (OpenAPI: ${stack.address}/api/v1/openapi.json)\n`);
      await waitForSignal(() => stack.close());
    });

  program
    .command('sp')
    .description('run the storage provider alone (untrusted; stores ciphertext only)')
    .option('--csp-public-key <b64>', 'the CSP identity public key to pin (base64url)', process.env.HRVAULT_CSP_PUBLIC_KEY)
    .option('--init', 'create the SP identity if needed, print its public key and exit')
    .option('--data-dir <dir>', 'where the SP identity and embedded database live', process.env.HRVAULT_DATA_DIR ?? './hrvault-sp')
    .option('--sp-db <url>', 'postgres://… instead of the embedded database', process.env.HRVAULT_SP_DB)
    .option('--port <n>', 'HTTP port', process.env.HRVAULT_SP_PORT ?? '8081')
    .option('--host <addr>', 'HTTP address', process.env.HRVAULT_HOST ?? '127.0.0.1')
    .action(async (o: { cspPublicKey?: string; init?: boolean; dataDir: string; spDb?: string; port: string; host: string }) => {
      if (o.init) {
        await mkdir(join(o.dataDir, 'sp'), { recursive: true, mode: 0o700 });
        const id = await loadOrCreateIdentity(join(o.dataDir, 'sp', 'identity.json'), 'sp');
        process.stdout.write(`${exportIdentityPublicKey(id.publicKey)}\n`);
        return;
      }
      if (!o.cspPublicKey) throw new ConfigError('--csp-public-key (or HRVAULT_CSP_PUBLIC_KEY) is required');
      const port = parse(portSchema, o.port, '--port');
      await ensurePortFree('--port', port, o.host);
      const sp = await startSp({ dataDir: o.dataDir, ...(o.spDb ? { spDb: o.spDb } : {}), cspPublicKey: importIdentityPublicKey(o.cspPublicKey) });
      const app = await buildSpHttp(sp.sp);
      const address = await app.listen({ port, host: o.host }).catch(async (err: unknown) => {
        await sp.close();
        return portError(port, o.host)(err);
      });
      process.stderr.write(`hrvault sp: ${address}${SP_WIRE_PATH}; identity ${exportIdentityPublicKey(sp.identity.publicKey)}\n`);
      await waitForSignal(async () => {
        await app.close();
        await sp.close();
      });
    });

  program
    .command('csp')
    .description('run the CSP and the HTTP API against a separate SP')
    .option('--sp-url <url>', 'the SP wire endpoint, e.g. http://127.0.0.1:8081/sp/v1/wire', process.env.HRVAULT_SP_URL)
    .option('--sp-public-key <b64>', 'the SP identity public key to pin (base64url)', process.env.HRVAULT_SP_PUBLIC_KEY)
    .option('--init', 'create the CSP keys if needed, print the identity public key and exit')
    .option('--data-dir <dir>', 'where the CSP keys and state live', process.env.HRVAULT_DATA_DIR ?? './hrvault-csp')
    .option('--port <n>', 'HTTP port', process.env.HRVAULT_PORT ?? '8080')
    .option('--host <addr>', 'HTTP address', process.env.HRVAULT_HOST ?? '127.0.0.1')
    .option('--paillier-bits <n>', 'Paillier modulus size at first start', process.env.HRVAULT_PAILLIER_BITS ?? '2048')
    .action(async (o: { spUrl?: string; spPublicKey?: string; init?: boolean; dataDir: string; port: string; host: string; paillierBits: string }) => {
      const bits = parse(z.coerce.number().int().min(1024).max(4096), o.paillierBits, '--paillier-bits');
      if (o.init) {
        await mkdir(join(o.dataDir, 'csp'), { recursive: true, mode: 0o700 });
        const keys = await loadOrCreateCspKeys(join(o.dataDir, 'csp', 'keys.json'), bits);
        process.stdout.write(`${exportIdentityPublicKey(keys.identity.publicKey)}\n`);
        return;
      }
      if (!o.spUrl || !o.spPublicKey) throw new ConfigError('--sp-url and --sp-public-key (or HRVAULT_SP_URL, HRVAULT_SP_PUBLIC_KEY) are required');
      const port = parse(portSchema, o.port, '--port');
      parse(z.url(), o.spUrl, '--sp-url');
      await ensurePortFree('--port', port, o.host);
      const csp = await startCsp({
        dataDir: o.dataDir,
        paillierBits: bits,
        sp: { url: o.spUrl, publicKey: o.spPublicKey },
      });
      await bootstrapAdmin(csp.csp, process.env.HRVAULT_ADMIN_PASSWORD);
      const api = await buildApi({ csp: csp.csp });
      const address = await api.listen({ port, host: o.host }).catch(async (err: unknown) => {
        await csp.close();
        return portError(port, o.host)(err);
      });
      process.stderr.write(`hrvault csp: API at ${address}/api/v1; identity ${exportIdentityPublicKey(csp.keys.identity.publicKey)}\n`);
      await waitForSignal(async () => {
        await api.close();
        await csp.close();
      });
    });

  program
    .command('audit')
    .description('audit log tools')
    .command('verify')
    .description("verify the CSP's hash-chained audit log; exit 1 if any entry was edited, removed or reordered")
    .option('--data-dir <dir>', 'the CSP data directory', process.env.HRVAULT_DATA_DIR ?? './hrvault-data')
    .option('--json', 'print the result as JSON')
    .action(async (o: { dataDir: string; json?: boolean }) => {
      const keysPath = join(o.dataDir, 'csp', 'keys.json');
      if (!existsSync(keysPath)) throw new ConfigError(`no CSP key file at ${keysPath}`);
      const keys = await loadCspKeys(keysPath);
      const db = await openSqlDb(join(o.dataDir, 'csp', 'db'));
      try {
        const log = await AuditLog.open(db, keys.auditKey, fileAnchor(join(o.dataDir, 'csp', 'audit-anchor.json')));
        const result = await log.verify();
        if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else process.stdout.write(result.ok ? `audit log OK: ${result.entries} entries\n` : `audit log BROKEN at entry ${result.seq}: ${result.problem}\n`);
        if (!result.ok) process.exitCode = 1;
      } finally {
        await db.close();
      }
    });
}
