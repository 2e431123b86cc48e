/**
 * The gateway's side of grouped results: it fetches the host's result bundles over SFTP, splits them and judges
 * every result as it judges a loose result file; it deletes a bundle only after every result in it was settled,
 * and a bundle the untrusted host framed badly loses none of the good results it holds.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { areaDir, outboxBundles, startCloud, type CloudHandle } from '../cloud/index.js';
import { splitResultBundle } from '../contracts/index.js';
import { encodePlainFile, pseudonymise } from '../crypto/index.js';
import { deviceOfPatient } from '../sensor/index.js';
import { rrCsv } from '../test-support/sealed-batches.js';
import { startEmbeddedBroker, startGateway, type EmbeddedBroker, type GatewayHandle } from './index.js';
import { ensureGatewayKeys, type GatewayKeys } from './keys.js';

const root = mkdtempSync(join(tmpdir(), 'gw-bundle-'));
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  rmSync(root, { recursive: true, force: true });
});
const PATIENTS = ['P0001', 'P0002', 'P0003'];

/** A plain-mode host holding one micro-batch's results for gw1 in one bundle (made by the real host from real inputs). */
async function hostWithBundle(name: string, keys: GatewayKeys): Promise<{ cloud: CloudHandle; dir: string; bundle: string }> {
  const dir = join(root, name, 'cloud');
  const cloud = await startCloud({ dataDir: dir, gateways: [{ id: 'gw1', sshPublicKey: keys.sshPublicKey }], batchIntervalMs: 3_600_000, mode: 'plain' });
  cleanup.push(() => cloud.stop());
  for (const patient of PATIENTS) {
    const pseud = pseudonymise(patient, keys.pseudonymKey);
    const header = { v: 1 as const, kind: 'rr-batch' as const, gateway: 'gw1', patient: pseud, seq: 1, t_start_ms: 0, t_end_ms: 10_000, key_id: 'plain' };
    writeFileSync(join(areaDir(dir, 'gw1', 'inbox'), `${pseud}-0000000001.hrvp`), encodePlainFile(header, Buffer.from(rrCsv(0, 10_000, 70).csv)));
  }
  expect(await cloud.flush()).toMatchObject({ files: 3, accepted: 3 });
  const [bundle] = outboxBundles(areaDir(dir, 'gw1', 'outbox'));
  return { cloud, dir, bundle: join(areaDir(dir, 'gw1', 'outbox'), bundle!) };
}

async function gatewayFor(name: string, keys: GatewayKeys, broker: EmbeddedBroker, port: number): Promise<GatewayHandle> {
  const gw = await startGateway({
    id: 'gw1',
    dataDir: join(root, name, 'gw'),
    mqtt: { url: broker.url, topicPrefix: 'hrvault/v1', username: 'gw1', password: 'gwpass' },
    devices: Object.fromEntries(PATIENTS.map((p) => [deviceOfPatient(p), p])),
    batchIntervalMs: 60_000,
    resultPollMs: 100,
    mode: 'plain',
    sftp: { host: '127.0.0.1', port, privateKey: keys.sshPrivateKey },
    keys,
    bucketBytes: [1024],
    retryMaxMs: 1000,
    logger: pino({ level: 'silent' }),
  });
  cleanup.push(() => gw.stop(2000));
  return gw;
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

describe('gateway result bundles', () => {
  it('keeps every result of a bundle, then deletes the bundle; a badly framed bundle keeps its good results and stays on the host', async () => {
    const broker = await startEmbeddedBroker({ credentials: (u) => (u === 'gw1' ? 'gwpass' : undefined), gatewayUsernames: ['gw1'], topicPrefix: 'hrvault/v1' });
    cleanup.push(() => broker.close());

    // A whole bundle: three results kept, the bundle deleted.
    const keysA = ensureGatewayKeys(join(root, 'whole', 'keys'));
    const whole = await hostWithBundle('whole', keysA);
    const gwA = await gatewayFor('whole', keysA, broker, whole.cloud.port);
    expect(await gwA.waitForResults(3, 20_000)).toBe(true);
    expect(await until(() => !existsSync(whole.bundle), 10_000)).toBe(true);
    expect(gwA.stats()).toMatchObject({ results_verified: 3, results_rejected: 0, results_replayed: 0 });

    // The host cuts its bundle in the third entry: the two whole entries are kept, the fault counted, the bundle left.
    const keysB = ensureGatewayKeys(join(root, 'torn', 'keys'));
    const torn = await hostWithBundle('torn', keysB);
    const bytes = readFileSync(torn.bundle);
    const entries = splitResultBundle(bytes).entries;
    expect(entries).toHaveLength(3);
    const third = entries[2]!;
    writeFileSync(torn.bundle, bytes.subarray(0, third.bytes.byteOffset - bytes.byteOffset + 10));
    const gwB = await gatewayFor('torn', keysB, broker, torn.cloud.port);
    expect(await gwB.waitForResults(2, 20_000)).toBe(true);
    expect(await until(() => gwB.stats().results_rejected >= 1, 10_000)).toBe(true);
    // Several polls later the bundle is still there, fetched and judged once: nothing counted twice.
    await new Promise((r) => setTimeout(r, 600));
    expect(existsSync(torn.bundle)).toBe(true);
    expect(gwB.stats()).toMatchObject({ results_verified: 2, results_rejected: 1, results_replayed: 0 });
  });
});
