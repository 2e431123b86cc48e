/**
 * The untrusted host replays result files: an old result copied back into the outbox under a new name, read by a
 * gateway that restarted meanwhile, never becomes a second clinical record at the CSP. Everything is real: the
 * enclave process seals the results, the gateway is the production one, the CSP is the access stack.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { areaDir } from '../cloud/index.js';
import { deviceRegistry } from '../commands/gateway.js';
import { runDemo, type DemoContext } from '../commands/index.js';
import { openEnvelope, pseudonymise } from '../crypto/index.js';
import { computeMeasurement } from '../enclave/index.js';
import { startCspForwarder } from './csp-forwarder.js';
import { startEmbeddedBroker } from './broker.js';
import { parseResultBody, startGateway, type GatewayHandle } from './gateway.js';
import { ensureGatewayKeys } from './keys.js';
import { ResultOutbox } from './result-outbox.js';

const silent = { out: () => undefined, err: () => undefined };
const PATIENTS = ['P0001', 'P0002', 'P0003'];

async function api(base: string, path: string, token?: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}/api/v1${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

/** Counts the `hrv` records the CSP holds for the demo's patients, asking each patient's doctor. */
async function hrvRecords(base: string, credentialsFile: string): Promise<number> {
  const logins = JSON.parse(readFileSync(credentialsFile, 'utf8')) as { role: string; username: string; password: string }[];
  const tokens: string[] = [];
  for (const d of logins.filter((l) => l.role === 'doctor')) {
    const login = await api(base, '/auth/login', undefined, { username: d.username, password: d.password });
    tokens.push((login.json as { access_token: string }).access_token);
  }
  let n = 0;
  for (const p of PATIENTS) {
    for (const t of tokens) {
      const r = await api(base, `/patients/${p}/records?type=hrv&limit=10000`, t);
      if (r.status === 404) continue;
      expect(r.status).toBe(200);
      n += ((r.json as { records?: unknown[]; items?: unknown[] }).records ?? (r.json as { items: unknown[] }).items).length;
      break;
    }
  }
  return n;
}

async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

/** A second run of the demo's gateway on its data dir (keys, spool, result outbox), as after a process restart. */
async function restartGateway(ctx: DemoContext): Promise<{ gateway: GatewayHandle; close: () => Promise<void> }> {
  const broker = await startEmbeddedBroker({ credentials: (u) => (u === 'gw1' ? 'restart' : undefined), gatewayUsernames: ['gw1'], topicPrefix: 'hrvault/v1/restart' });
  const gwDir = join(ctx.dataDir, 'gateway');
  const keys = ensureGatewayKeys(join(gwDir, 'keys'));
  const gateway = await startGateway({
    id: 'gw1',
    dataDir: join(gwDir, 'spool'),
    mqtt: { url: broker.url, topicPrefix: 'hrvault/v1/restart', username: 'gw1', password: 'restart', clientId: 'restart-gw1' },
    devices: deviceRegistry(PATIENTS.length, 1),
    batchIntervalMs: 500,
    mode: 'secure',
    sftp: { host: '127.0.0.1', port: ctx.cloud.port, privateKey: keys.sshPrivateKey, hostFingerprint: ctx.cloud.hostKeyFingerprint },
    attestation: {
      platformPublicKey: new Uint8Array(Buffer.from(readFileSync(join(ctx.dataDir, 'enclave', 'platform.pub'), 'utf8').trim(), 'hex')),
      allowedMeasurements: [computeMeasurement()],
      allowSoftwareQuotes: true,
    },
    keys,
    bucketBytes: [],
    retryMaxMs: 2000,
    logger: pino({ level: 'silent' }),
    csp: { url: ctx.apiUrl! },
  });
  return {
    gateway,
    close: async () => {
      await gateway.stop();
      await broker.close();
    },
  };
}

describe('replayed result files (issue 9 item 4)', () => {
  it('a result file the host copies back under a new name, after a gateway restart, is counted as replayed and never becomes a second record at the CSP', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'result-replay-'));
    const credentialsFile = join(dir, 'logins.json');
    const stash = join(dir, 'stash');
    mkdirSync(stash);
    let copier: NodeJS.Timeout | undefined;
    const checks: { before?: number; after?: number; replayed?: boolean; verified?: number; delivered?: number; second?: { delivered: number; duplicates: number } } = {};
    const s = await runDemo(
      {
        patients: PATIENTS.length,
        durationS: 30,
        batchIntervalS: 0.5,
        mode: 'secure',
        speed: 20,
        logLevel: 'warn',
        access: { port: 0, credentialsFile, paillierBits: 1024 },
        // The host keeps a copy of every result file it serves, to replay later.
        onStarted: (ctx: DemoContext) => {
          const outbox = areaDir(join(ctx.dataDir, 'cloud'), 'gw1', 'outbox');
          copier = setInterval(() => {
            if (!existsSync(outbox)) return;
            for (const n of readdirSync(outbox)) {
              if (!n.endsWith('.result') || existsSync(join(stash, n))) continue;
              try {
                copyFileSync(join(outbox, n), join(stash, n));
              } catch {
                // fetched and deleted by the gateway between the listing and the copy
              }
            }
          }, 10);
        },
        beforeSummary: async (ctx: DemoContext) => {
          clearInterval(copier);
          checks.before = await hrvRecords(ctx.apiUrl!, credentialsFile);
          await ctx.gateway.stop();
          // Every result the host served, back in the outbox under a name the gateway has never seen.
          const outbox = areaDir(join(ctx.dataDir, 'cloud'), 'gw1', 'outbox');
          const stashed = readdirSync(stash);
          for (const n of stashed) copyFileSync(join(stash, n), join(outbox, n.replace(/-(\d+)\.result$/, (_m, seq: string) => `-000${seq}.result`)));
          const again = await restartGateway(ctx);
          try {
            checks.replayed = await until(() => again.gateway.stats().results_replayed >= stashed.length, 30_000);
            await again.gateway.deliverResults(10_000);
            checks.verified = again.gateway.stats().results_verified;
            checks.delivered = again.gateway.stats().results_delivered;
          } finally {
            await again.close();
          }
          // Even a second forward of the same results (a gateway whose outbox lost its marks) stores nothing: the
          // CSP's idempotency key is derived from (gateway, patient, seq).
          const keys = ensureGatewayKeys(join(ctx.dataDir, 'gateway', 'keys'));
          const fresh = ResultOutbox.open(join(dir, 'fresh-outbox'));
          for (const n of stashed) {
            const opened = openEnvelope(keys.hpkePrivateKey, readFileSync(join(stash, n)), { expectedKind: 'hrv-result', senderKey: () => ctx.enclave!.signingPublicKey });
            const patient = PATIENTS.find((p) => pseudonymise(p, keys.pseudonymKey) === opened.header.patient)!;
            fresh.accept(patient, parseResultBody(Buffer.from(opened.plaintext).toString('utf8'), opened.header));
          }
          const forwarder = startCspForwarder({ url: ctx.apiUrl!, gatewayId: 'gw1', signingPrivateKey: keys.signingPrivateKey, outbox: fresh, logger: pino({ level: 'silent' }), retryMaxMs: 1000 });
          expect(await forwarder.drain(30_000)).toBe(true);
          checks.second = forwarder.stats();
          await forwarder.stop();
          checks.after = await hrvRecords(ctx.apiUrl!, credentialsFile);
          expect(stashed.length).toBeGreaterThan(0);
        },
      },
      silent,
    );
    expect(s.results_verified).toBe(s.files);
    expect(checks.before).toBe(s.results_verified);
    expect(checks.replayed).toBe(true);
    expect(checks.verified).toBe(0);
    expect(checks.delivered).toBe(0);
    expect(checks.second!.delivered).toBe(0);
    expect(checks.second!.duplicates).toBeGreaterThan(0);
    expect(checks.after).toBe(checks.before);
    rmSync(s.data_dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }, 240_000);
});
