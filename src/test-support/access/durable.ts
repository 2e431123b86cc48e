/**
 * A CSP and an SP on databases that outlive them (PGlite directories, or a PostgreSQL schema for the SP), so a
 * test can drop either service at a failpoint and start a new one on the same files, as a restarted process would.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, type IdentityKeyPair } from '../../crypto/index.js';
import { CspService, fileAnchor, generateCspKeys, type CspKeys, type CspServiceOptions } from '../../csp/index.js';
import { SpService } from '../../sp/index.js';
import { openScratchDb, openSqlDb, type ScratchDb, type SqlDb } from '../../sql/index.js';
import { inProcessTransport, type SpTransport } from '../../protocol/index.js';

export interface DurableHarness {
  csp: CspService;
  sp: SpService;
  cspDb: SqlDb;
  spDb: SqlDb;
  keys: CspKeys;
  dir: string;
  /** Drops the CSP (as a killed process would: nothing in memory survives) and starts one on the same files. */
  restartCsp(options?: Partial<CspServiceOptions>): Promise<CspService>;
  /** Drops the SP and starts one on the same database (its session keys are gone: the CSP handshakes again). */
  restartSp(): Promise<SpService>;
  close(): Promise<void>;
}

let sharedKeys: Promise<CspKeys> | undefined;

/** `spLocation`: 'dir' for a PGlite directory beside the CSP's, or a postgres URL (a fresh schema). */
export async function makeDurableHarness(spLocation: 'dir' | string = 'dir', options: Partial<CspServiceOptions> = {}): Promise<DurableHarness> {
  sharedKeys ??= generateCspKeys('csp', 1024);
  const keys = await sharedKeys;
  const dir = await mkdtemp(join(tmpdir(), 'hrv-durable-'));
  const cspPath = join(dir, 'csp-db');
  let scratch: ScratchDb | undefined;
  const openSp = async (): Promise<SqlDb> => {
    if (spLocation === 'dir') return openSqlDb(join(dir, 'sp-db'));
    scratch = await openScratchDb(spLocation, 'tcrash');
    return scratch.db;
  };
  const spIdentity: IdentityKeyPair = generateIdentity('sp');
  const spOf = (db: SqlDb) => SpService.create({ identity: spIdentity, csp: { id: keys.identity.id, publicKey: keys.identity.publicKey }, db, reorderWindow: 64 });
  let spDb = await openSp();
  let sp = await spOf(spDb);
  // The transport looks the SP up on every message, so a restarted SP is reached by the same CSP.
  const transport: SpTransport = { send: (req) => inProcessTransport(h.sp).send(req) };
  const anchor = fileAnchor(join(dir, 'audit-anchor.json'));
  let cspDb = await openSqlDb(cspPath);
  const start = (db: SqlDb, extra: Partial<CspServiceOptions>) =>
    CspService.create({ keys, db, sp: { id: 'sp', publicKey: spIdentity.publicKey, transport }, auditAnchor: anchor, renewalLimit: { max: 3, windowMs: 60_000 }, ...options, ...extra });
  const h: DurableHarness = {
    csp: undefined as unknown as CspService,
    sp,
    cspDb,
    spDb,
    keys,
    dir,
    async restartCsp(extra = {}) {
      await cspDb.close();
      cspDb = await openSqlDb(cspPath);
      h.cspDb = cspDb;
      h.csp = await start(cspDb, extra);
      return h.csp;
    },
    async restartSp() {
      if (spLocation === 'dir') {
        await spDb.close();
        spDb = await openSqlDb(join(dir, 'sp-db'));
        h.spDb = spDb;
      }
      sp = await spOf(spDb);
      h.sp = sp;
      return sp;
    },
    async close() {
      await cspDb.close();
      if (scratch) await scratch.drop();
      else await spDb.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  h.csp = await start(cspDb, {});
  return h;
}
