import { afterAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../crypto/index.js';
import { memoryAnchor } from '../csp/index.js';
import { generateCspKeys } from '../csp/index.js';
import { CspService } from '../csp/index.js';
import { SpService } from './sp-service.js';
import { buildSpHttp, SP_WIRE_PATH } from './sp-http.js';
import { openSqlDb, type SqlDb } from '../sql/index.js';
import { httpTransport } from '../protocol/index.js';
import { seedResults } from '../test-support/access/seed.js';

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

describe('CSP and SP as separate services over HTTP', () => {
  it('runs the handshake and the protocol across HTTP, and the SP refuses garbage with a named error', async () => {
    const keys = await generateCspKeys('csp', 1024);
    const spDb: SqlDb = await openSqlDb('memory:');
    const cspDb: SqlDb = await openSqlDb('memory:');
    closers.push(() => spDb.close(), () => cspDb.close());
    const spId = generateIdentity('sp');
    const sp = await SpService.create({ identity: spId, csp: { id: 'csp', publicKey: keys.identity.publicKey }, db: spDb, reorderWindow: 64 });
    const server = await buildSpHttp(sp);
    const address = await server.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => server.close());
    const csp = await CspService.create({
      keys,
      db: cspDb,
      sp: { id: 'sp', publicKey: spId.publicKey, transport: httpTransport(`${address}${SP_WIRE_PATH}`) },
      auditAnchor: memoryAnchor(),
    });
    await csp.registerUser('bootstrap', { username: 'pat', password: 'correct horse battery staple', role: 'patient', patient_id: 'P-9' });
    const [result] = await seedResults(csp, 'P-9', { durationS: 10 });
    const p = await csp.authenticate((await csp.login('pat', 'correct horse battery staple')).access_token);
    expect((await csp.getRecords(p, 'P-9', { type: 'hrv' })).records[0]!.data).toMatchObject({ measures: result!.window.measures });
    const bad = await fetch(`${address}${SP_WIRE_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"kind":"sealed"}' });
    expect(await bad.json()).toMatchObject({ kind: 'error', code: 'bad_request' });
  });
});
