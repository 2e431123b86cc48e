/**
 * The untrusted host replays result files: an old result copied back into the outbox under a new name, read by a
 * gateway that restarted meanwhile, never becomes a second clinical record at the CSP. Everything is real: the
 * enclave process seals the results, the gateway is the production one, the CSP is the access stack.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { areaDir } from '../cloud/index.js';
import { runDemo, type DemoContext } from '../commands/index.js';
import { pseudonymise } from '../crypto/index.js';
import { splitResultBundle } from '../contracts/index.js';
import { openGatewayResult } from './test-support/open-result.js';
import { computeMeasurement } from '../enclave/index.js';
import { deviceOfPatient } from '../sensor/index.js';
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
    mqtt: { url: broker.url, topicPrefix: 'hrvault/v1/restart', username: 'gw1', password: 'restart', clientId: 'gw1:restart' },
    devices: Object.fromEntries(PATIENTS.map((p) => [deviceOfPatient(p), p])),
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

describe('replayed results and a rolled-back enclave state (issue 9 items 3 and 4)', () => {
  it('a result file the host copies back under a new name, after a gateway restart, is counted as replayed and never becomes a second record at the CSP', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'result-replay-'));
    const credentialsFile = join(dir, 'logins.json');
    const stash = join(dir, 'stash');
    mkdirSync(stash);
    let copier: NodeJS.Timeout | undefined;
    const checks: { before?: number; after?: number; replayed?: boolean; verified?: number; delivered?: number; rollback?: number; second?: { delivered: number; duplicates: number } } = {};
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
              // The host writes one bundle per micro-batch; each result in it is a file the host could serve alone.
              if (!n.endsWith('.bundle')) continue;
              try {
                for (const e of splitResultBundle(readFileSync(join(outbox, n))).entries) if (!existsSync(join(stash, e.name))) writeFileSync(join(stash, e.name), e.bytes);
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
            checks.rollback = again.gateway.stats().results_rollback;
          } finally {
            await again.close();
          }
          // Even a second forward of the same results (a gateway whose outbox lost its marks) stores nothing: the
          // CSP's idempotency key is derived from (gateway, patient, seq).
          const keys = ensureGatewayKeys(join(ctx.dataDir, 'gateway', 'keys'));
          const fresh = ResultOutbox.open(join(dir, 'fresh-outbox'));
          for (const n of stashed) {
            const opened = openGatewayResult(join(ctx.dataDir, 'gateway', 'spool', 'epochs'), 'gw1', keys, ctx.enclave!.signingPublicKey, readFileSync(join(stash, n)));
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
    // Byte-identical copies name the commits their originals came from: replays, not a rolled-back enclave.
    expect(checks.rollback).toBe(0);
    expect(checks.second!.delivered).toBe(0);
    expect(checks.second!.duplicates).toBeGreaterThan(0);
    expect(checks.after).toBe(checks.before);
    rmSync(s.data_dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }, 240_000);

  it('the host rolls the enclave\'s sealed state back (restores an older state.sealed and journal) and replays a batch: the real enclave analyses it again, the gateway detects the rollback (HRV_ERR_ENCLAVE_ROLLBACK, counted) and no second record reaches the CSP', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'enclave-rollback-'));
    const credentialsFile = join(dir, 'logins.json');
    const saved = join(dir, 'saved-state');
    let saver: NodeJS.Timeout | undefined;
    const checks: { before?: number; after?: number; detected?: boolean; reanalysed?: number; rollback?: number; verified?: number; rejected?: number } = {};
    const stateFiles = (d: string): string[] => readdirSync(d).filter((n) => n === 'state.sealed' || /^state-\d+\.journal$/.test(n));
    const s = await runDemo(
      {
        patients: PATIENTS.length,
        durationS: 60,
        batchIntervalS: 0.5,
        mode: 'secure',
        speed: 20,
        logLevel: 'warn',
        access: { port: 0, credentialsFile, paillierBits: 1024 },
        // The host copies the enclave's sealed state once a few results are out, to restore it later.
        onStarted: (ctx: DemoContext) => {
          const enclaveDir = join(ctx.dataDir, 'enclave');
          saver = setInterval(() => {
            if (existsSync(saved) || ctx.cloud.stats().results_written < PATIENTS.length * 2) return;
            mkdirSync(saved);
            for (const n of stateFiles(enclaveDir)) copyFileSync(join(enclaveDir, n), join(saved, n));
            clearInterval(saver);
          }, 10);
        },
        beforeSummary: async (ctx: DemoContext) => {
          clearInterval(saver);
          checks.before = await hrvRecords(ctx.apiUrl!, credentialsFile);
          const verifiedBefore = ctx.gateway.stats().results_verified;
          // Roll back: the saved state replaces the current one, and the enclave process is killed; its supervisor
          // restarts it on the old state.
          const enclaveDir = join(ctx.dataDir, 'enclave');
          for (const n of stateFiles(enclaveDir)) rmSync(join(enclaveDir, n));
          for (const n of stateFiles(saved)) copyFileSync(join(saved, n), join(enclaveDir, n));
          process.kill(ctx.enclave!.pid, 'SIGKILL');
          // Replay the last batch of the first patient from the host's store: analysed after the saved state was taken.
          const store = join(ctx.dataDir, 'cloud', 'store', 'gw1');
          const keys = ensureGatewayKeys(join(ctx.dataDir, 'gateway', 'keys'));
          const pseud = pseudonymise(PATIENTS[0]!, keys.pseudonymKey);
          const last = readdirSync(store).filter((n) => n.startsWith(`${pseud}-`)).sort().at(-1)!;
          copyFileSync(join(store, last), join(areaDir(join(ctx.dataDir, 'cloud'), 'gw1', 'inbox'), last));
          let rec = await ctx.cloud.flush({ releaseHeld: true });
          // The first call after the kill may fail while the supervisor restarts the process; the file waits in the inbox.
          while (rec.failed > 0) rec = await ctx.cloud.flush({ releaseHeld: true });
          checks.reanalysed = rec.accepted;
          checks.detected = await until(() => ctx.gateway.stats().results_rollback >= 1, 30_000);
          checks.rollback = ctx.gateway.stats().results_rollback;
          checks.verified = ctx.gateway.stats().results_verified - verifiedBefore;
          await ctx.gateway.deliverResults(10_000);
          checks.after = await hrvRecords(ctx.apiUrl!, credentialsFile);
        },
      },
      silent,
    );
    console.log(`enclave rollback: ${JSON.stringify(checks)}`);
    expect(existsSync(saved)).toBe(true);
    expect(checks.before).toBe(s.results_verified - (checks.verified ?? 0));
    // The rolled-back enclave took the replay as new (what the review found) …
    expect(checks.reanalysed).toBe(1);
    // … and the gateway saw it: refused, counted, and no second record.
    expect(checks.detected).toBe(true);
    expect(checks.rollback).toBe(1);
    expect(checks.verified).toBe(0);
    expect(checks.after).toBe(checks.before);
    rmSync(s.data_dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }, 240_000);
});
