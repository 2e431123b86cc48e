/**
 * `hrvault serve`, `hrvault sp`, `hrvault csp` and `hrvault audit verify`: the access side of the system,
 * together in one process or as separate services.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { z } from 'zod';
import { exportIdentityPublicKey, importIdentityPublicKey } from '../crypto/index.js';
import { loadOrCreateCspKeys, startCsp } from '../csp/index.js';
import { buildSpHttp, loadOrCreateIdentity, SP_WIRE_PATH, startSp } from '../sp/index.js';
import { mkdir } from 'node:fs/promises';
import { startAccessStack, type AccessStack } from '../api/index.js';
import { loadCspKeys } from '../csp/index.js';
import { AUDIT_ANCHOR_FILE, AuditLog, fileAnchor } from '../csp/index.js';
import { openSqlDb } from '../sql/index.js';
import { buildApi } from '../api/index.js';
import { loadConfig, type HrvaultConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import type { CspService } from '../csp/index.js';
import { ensurePortFree, isAddressInUse, portInUseError, stopOnSignal } from './lifecycle.js';


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

/** The CSP, the SP and the HTTP API with the dashboard (when built) in one process, from the validated `access` section. */
export function accessStackFromConfig(cfg: HrvaultConfig['access']): Promise<AccessStack> {
  return startAccessStack({
    ...(dashboardBuilt() ? { webRoot: DASHBOARD_ROOT } : {}),
    dataDir: cfg.dataDir,
    ...(cfg.spDb ? { spDb: cfg.spDb } : {}),
    spDbPoolMax: cfg.spDbPoolMax,
    port: cfg.port,
    host: cfg.host,
    paillierBits: cfg.paillierBits,
    trustProxy: cfg.trustProxy,
    grantApprovals: cfg.grantApprovals,
  });
}

/**
 * Registers the bootstrap admins whose passwords were given and that do not exist yet: "admin", and
 * "admin2" (the second person the two-person rule on grants needs; an operator's decision, not an admin's).
 */
async function bootstrapAdmin(csp: CspService, password: string, secondPassword = ''): Promise<void> {
  if (secondPassword) await bootstrapOne(csp, 'admin2', secondPassword);
  if (password) await bootstrapOne(csp, 'admin', password);
}

async function bootstrapOne(csp: CspService, username: string, password: string): Promise<void> {
  try {
    await csp.registerUser('bootstrap', { username, password, role: 'admin' });
    process.stderr.write(`registered user "${username}"\n`);
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

/** Config overrides from a command's flags: only the flags given (commander leaves the others undefined). */
function given<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A whole number from a flag (commander gives strings); a bad one stops the start naming the flag. */
const int = (flag: string) => (v: string): number => parse(z.coerce.number().int(), v, flag);

export function registerAccessCommands(program: Command): void {
  program
    .command('serve')
    .description('run the CSP and the SP together with the HTTP API (config section access, HRVAULT_ACCESS_*)')
    .option('--config <file>', 'JSON config file')
    .option('--data-dir <dir>', 'where keys and the embedded databases live (HRVAULT_ACCESS_DATA_DIR)')
    .option('--sp-db <url>', 'SP storage: postgres://… (HRVAULT_ACCESS_SP_DB; default: embedded database in the data dir)')
    .option('--port <n>', 'HTTP port (HRVAULT_ACCESS_PORT)', int('--port'))
    .option('--host <addr>', 'HTTP address (HRVAULT_ACCESS_HOST)')
    .option('--paillier-bits <n>', 'Paillier modulus size at first start (HRVAULT_ACCESS_PAILLIER_BITS)', int('--paillier-bits'))
    .action(async (o: { config?: string; dataDir?: string; spDb?: string; port?: number; host?: string; paillierBits?: number }) => {
      const cfg = loadConfig({ ...(o.config === undefined ? {} : { file: o.config }), flags: { access: given({ dataDir: o.dataDir, spDb: o.spDb, port: o.port, host: o.host, paillierBits: o.paillierBits }) } }).access;
      await ensurePortFree('--port', cfg.port, cfg.host);
      const stack = await accessStackFromConfig(cfg).catch(portError(cfg.port, cfg.host));
      await bootstrapAdmin(stack.csp, cfg.adminPassword, cfg.secondAdminPassword);
      process.stderr.write(`hrvault serve: dashboard at ${stack.address}/, API at ${stack.address}/api/v1 (OpenAPI: ${stack.address}/api/v1/openapi.json)\n`);
      await waitForSignal(() => stack.close());
    });

  program
    .command('sp')
    .description('run the storage provider alone (untrusted; stores ciphertext only; config section sp, HRVAULT_SP_*)')
    .option('--config <file>', 'JSON config file')
    .option('--csp-public-key <b64>', 'the CSP identity public key to pin, base64url (HRVAULT_SP_CSP_PUBLIC_KEY)')
    .option('--init', 'create the SP identity if needed, print its public key and exit')
    .option('--data-dir <dir>', 'where the SP identity and embedded database live (HRVAULT_SP_DATA_DIR)')
    .option('--sp-db <url>', 'postgres://… instead of the embedded database (HRVAULT_SP_DB)')
    .option('--port <n>', 'HTTP port (HRVAULT_SP_PORT)', int('--port'))
    .option('--host <addr>', 'HTTP address (HRVAULT_SP_HOST)')
    .action(async (o: { config?: string; cspPublicKey?: string; init?: boolean; dataDir?: string; spDb?: string; port?: number; host?: string }) => {
      const cfg = loadConfig({ ...(o.config === undefined ? {} : { file: o.config }), flags: { sp: given({ cspPublicKey: o.cspPublicKey, dataDir: o.dataDir, db: o.spDb, port: o.port, host: o.host }) } }).sp;
      if (o.init) {
        await mkdir(join(cfg.dataDir, 'sp'), { recursive: true, mode: 0o700 });
        const id = await loadOrCreateIdentity(join(cfg.dataDir, 'sp', 'identity.json'), 'sp');
        process.stdout.write(`${exportIdentityPublicKey(id.publicKey)}\n`);
        return;
      }
      if (!cfg.cspPublicKey) throw new ConfigError('sp.cspPublicKey (--csp-public-key or HRVAULT_SP_CSP_PUBLIC_KEY) is required');
      await ensurePortFree('--port', cfg.port, cfg.host);
      const sp = await startSp({ dataDir: cfg.dataDir, ...(cfg.db ? { spDb: cfg.db } : {}), spDbPoolMax: cfg.dbPoolMax, cspPublicKey: importIdentityPublicKey(cfg.cspPublicKey) });
      const app = await buildSpHttp(sp.sp);
      const address = await app.listen({ port: cfg.port, host: cfg.host }).catch(async (err: unknown) => {
        await sp.close();
        return portError(cfg.port, cfg.host)(err);
      });
      process.stderr.write(`hrvault sp: ${address}${SP_WIRE_PATH}; identity ${exportIdentityPublicKey(sp.identity.publicKey)}\n`);
      await waitForSignal(async () => {
        await app.close();
        await sp.close();
      });
    });

  program
    .command('csp')
    .description('run the CSP and the HTTP API against a separate SP (config section csp, HRVAULT_CSP_*)')
    .option('--config <file>', 'JSON config file')
    .option('--sp-url <url>', 'the SP wire endpoint, e.g. http://127.0.0.1:8081/sp/v1/wire (HRVAULT_CSP_SP_URL)')
    .option('--sp-public-key <b64>', 'the SP identity public key to pin, base64url (HRVAULT_CSP_SP_PUBLIC_KEY)')
    .option('--init', 'create the CSP keys if needed, print the identity public key and exit')
    .option('--data-dir <dir>', 'where the CSP keys and state live (HRVAULT_CSP_DATA_DIR)')
    .option('--port <n>', 'HTTP port (HRVAULT_CSP_PORT)', int('--port'))
    .option('--host <addr>', 'HTTP address (HRVAULT_CSP_HOST)')
    .option('--paillier-bits <n>', 'Paillier modulus size at first start (HRVAULT_CSP_PAILLIER_BITS)', int('--paillier-bits'))
    .action(async (o: { config?: string; spUrl?: string; spPublicKey?: string; init?: boolean; dataDir?: string; port?: number; host?: string; paillierBits?: number }) => {
      const cfg = loadConfig({
        ...(o.config === undefined ? {} : { file: o.config }),
        flags: { csp: given({ spUrl: o.spUrl, spPublicKey: o.spPublicKey, dataDir: o.dataDir, port: o.port, host: o.host, paillierBits: o.paillierBits }) },
      }).csp;
      if (o.init) {
        await mkdir(join(cfg.dataDir, 'csp'), { recursive: true, mode: 0o700 });
        const keys = await loadOrCreateCspKeys(join(cfg.dataDir, 'csp', 'keys.json'), cfg.paillierBits);
        process.stdout.write(`${exportIdentityPublicKey(keys.identity.publicKey)}\n`);
        return;
      }
      if (!cfg.spUrl || !cfg.spPublicKey) throw new ConfigError('csp.spUrl and csp.spPublicKey (--sp-url, --sp-public-key or HRVAULT_CSP_SP_URL, HRVAULT_CSP_SP_PUBLIC_KEY) are required');
      await ensurePortFree('--port', cfg.port, cfg.host);
      const csp = await startCsp({
        dataDir: cfg.dataDir,
        paillierBits: cfg.paillierBits,
        sp: { url: cfg.spUrl, publicKey: cfg.spPublicKey },
        grantApprovals: cfg.grantApprovals,
      });
      await bootstrapAdmin(csp.csp, cfg.adminPassword, cfg.secondAdminPassword);
      const api = await buildApi({ csp: csp.csp, trustProxy: cfg.trustProxy });
      const address = await api.listen({ port: cfg.port, host: cfg.host }).catch(async (err: unknown) => {
        await csp.close();
        return portError(cfg.port, cfg.host)(err);
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
    .option('--config <file>', 'JSON config file')
    .option('--data-dir <dir>', 'the data directory of `hrvault serve` (HRVAULT_ACCESS_DATA_DIR)')
    .option('--json', 'print the result as JSON')
    .action(async (o: { config?: string; dataDir?: string; json?: boolean }) => {
      const dataDir = loadConfig({ ...(o.config === undefined ? {} : { file: o.config }), flags: { access: given({ dataDir: o.dataDir }) } }).access.dataDir;
      const keysPath = join(dataDir, 'csp', 'keys.json');
      if (!existsSync(keysPath)) throw new ConfigError(`no CSP key file at ${keysPath}`);
      const keys = await loadCspKeys(keysPath);
      const db = await openSqlDb(join(dataDir, 'csp', 'db'));
      try {
        // Opened unchecked: the verifier reports a log that does not end at its anchor instead of refusing to open it.
        const log = await AuditLog.open(db, keys.auditKey, fileAnchor(join(dataDir, 'csp', AUDIT_ANCHOR_FILE)), { check: false });
        const result = await log.verify();
        if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else process.stdout.write(result.ok ? `audit log OK: ${result.entries} entries\n` : `audit log BROKEN at entry ${result.seq}: ${result.problem}\n`);
        if (!result.ok) process.exitCode = 1;
      } finally {
        await db.close();
      }
    });
}
