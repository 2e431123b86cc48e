/** Builds a CSP and an SP wired together for tests, on an embedded or a PostgreSQL database. */
import { generateIdentity } from '../../crypto/index.js';
import { memoryAnchor } from '../../csp/index.js';
import { generateCspKeys, type CspKeys } from '../../csp/index.js';
import { CspService, type CspServiceOptions } from '../../csp/index.js';
import { SpService } from '../../sp/index.js';
import { openScratchDb, openSqlDb, type SqlDb } from '../../sql/index.js';
import { inProcessTransport } from '../../protocol/index.js';
import type { SpTransport, SpWireRequest } from '../../protocol/index.js';

export interface Harness {
  csp: CspService;
  sp: SpService;
  spDb: SqlDb;
  cspDb: SqlDb;
  keys: CspKeys;
  /** Lets a test rewrite the next requests on the wire (a man in the middle). */
  tamper: { next?: (r: SpWireRequest) => SpWireRequest };
  /** Stops nothing but starts a new CSP on the same CSP database and SP (a restart); `csp` then points at it. */
  restartCsp(options?: Partial<CspServiceOptions>): Promise<CspService>;
  close(): Promise<void>;
}

let sharedKeys: Promise<CspKeys> | undefined;

/** `spDb`: 'memory:' or a postgres URL; a fresh schema per harness on postgres. */
export async function makeHarness(spLocation = 'memory:', options: Partial<CspServiceOptions> = {}): Promise<Harness> {
  // 1024-bit Paillier keeps tests fast; key generation happens once per test file.
  sharedKeys ??= generateCspKeys('csp', 1024);
  const keys = await sharedKeys;
  const scratch = await openScratchDb(spLocation, 't');
  const spDb = scratch.db;
  const cspDb = await openSqlDb('memory:');
  const spIdentity = generateIdentity('sp');
  const sp = await SpService.create({
    identity: spIdentity,
    csp: { id: keys.identity.id, publicKey: keys.identity.publicKey },
    db: spDb,
    reorderWindow: 64,
  });
  const tamper: Harness['tamper'] = {};
  const inner = inProcessTransport(sp);
  const transport: SpTransport = {
    send(req) {
      const t = tamper.next;
      return inner.send(t ? t(req) : req);
    },
  };
  const anchor = memoryAnchor();
  const start = (extra: Partial<CspServiceOptions>) =>
    CspService.create({
      keys,
      db: cspDb,
      sp: { id: 'sp', publicKey: spIdentity.publicKey, transport },
      auditAnchor: anchor,
      renewalLimit: { max: 3, windowMs: 60_000 },
      ...options,
      ...extra,
    });
  const csp = await start({});
  const h: Harness = {
    csp,
    sp,
    spDb,
    cspDb,
    keys,
    tamper,
    async restartCsp(extra = {}) {
      h.csp = await start(extra);
      return h.csp;
    },
    async close() {
      await scratch.drop();
      await cspDb.close();
    },
  };
  return h;
}
