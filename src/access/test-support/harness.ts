/** Builds a CSP and an SP wired together for tests, on an embedded or a PostgreSQL database. */
import { generateIdentity } from '../../crypto/handshake.js';
import { memoryAnchor } from '../audit.js';
import { generateCspKeys, type CspKeys } from '../csp-keys.js';
import { CspService } from '../csp-service.js';
import { SpService } from '../sp-service.js';
import { openSqlDb, type SqlDb } from '../sql.js';
import { inProcessTransport } from '../transport.js';
import type { SpTransport, SpWireRequest } from '../sp-protocol.js';

export interface Harness {
  csp: CspService;
  sp: SpService;
  spDb: SqlDb;
  cspDb: SqlDb;
  keys: CspKeys;
  /** Lets a test rewrite the next requests on the wire (a man in the middle). */
  tamper: { next?: (r: SpWireRequest) => SpWireRequest };
  close(): Promise<void>;
}

let sharedKeys: Promise<CspKeys> | undefined;

/** `spDb`: 'memory:' or a postgres URL; a fresh schema per harness on postgres. */
export async function makeHarness(spLocation = 'memory:'): Promise<Harness> {
  // 1024-bit Paillier keeps tests fast; key generation happens once per test file.
  sharedKeys ??= generateCspKeys('csp', 1024);
  const keys = await sharedKeys;
  let spDb: SqlDb;
  let schema: string | undefined;
  if (spLocation.startsWith('postgres')) {
    const admin = await openSqlDb(spLocation);
    schema = `t_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
    await admin.exec(`CREATE SCHEMA ${schema}`);
    await admin.close();
    const url = new URL(spLocation);
    url.searchParams.set('options', `-c search_path=${schema}`);
    spDb = await openSqlDb(url.toString());
  } else {
    spDb = await openSqlDb(spLocation);
  }
  const cspDb = await openSqlDb('memory:');
  const spIdentity = generateIdentity('sp');
  const sp = await SpService.create({ identity: spIdentity, csp: { id: keys.identity.id, publicKey: keys.identity.publicKey }, db: spDb, reorderWindow: 64 });
  const tamper: Harness['tamper'] = {};
  const inner = inProcessTransport(sp);
  const transport: SpTransport = {
    send(req) {
      const t = tamper.next;
      return inner.send(t ? t(req) : req);
    },
  };
  const csp = await CspService.create({
    keys,
    db: cspDb,
    sp: { id: 'sp', publicKey: spIdentity.publicKey, transport },
    auditAnchor: memoryAnchor(),
    renewalLimit: { max: 3, windowMs: 60_000 },
  });
  return {
    csp,
    sp,
    spDb,
    cspDb,
    keys,
    tamper,
    async close() {
      if (schema) await spDb.exec(`DROP SCHEMA ${schema} CASCADE`);
      await spDb.close();
      await cspDb.close();
    },
  };
}
