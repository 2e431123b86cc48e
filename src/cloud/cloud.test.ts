import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SftpClient from 'ssh2-sftp-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePlainFile, encodePlainFile, generateSshKeyPair, openEnvelope, verifyQuoteDetails, type VerifiedQuote } from '../crypto/index.js';
import { computeMeasurement, ensurePlatformKey, spawnEnclave, type EnclaveClient, type HrvResult } from '../enclave/index.js';
import { makeGateway, rrCsv, sealedBatch } from '../test-support/sealed-batches.js';
import { splitResultBundle } from '../contracts/index.js';
import { readOutboxResults, startCloud, type CloudHandle } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'cloud-'));
const sshKey = generateSshKeyPair();
const otherKey = generateSshKeyPair();
const gw = makeGateway('gw-1');
let enclave: EnclaveClient;
let cloud: CloudHandle;
let verified: VerifiedQuote;
const uploadedValues: string[] = [];

async function connect(username = 'gw-1', privateKey = sshKey.private): Promise<SftpClient> {
  const c = new SftpClient();
  await c.connect({ host: '127.0.0.1', port: cloud.port, username, privateKey, readyTimeout: 5000 });
  return c;
}

async function upload(c: SftpClient, name: string, bytes: Uint8Array): Promise<void> {
  await c.put(Buffer.from(bytes), `inbox/${name}.part`);
  await c.rename(`inbox/${name}.part`, `inbox/${name}`);
}

function walk(d: string): string[] {
  return readdirSync(d).flatMap((n) => {
    const p = join(d, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

beforeAll(async () => {
  enclave = await spawnEnclave({
    dataDir: join(dir, 'enclave'),
    platformKeyFile: join(dir, 'platform.key'),
    enrolledGateways: [{ id: gw.id, signingPublicKey: gw.signing.publicKey, hpkePublicKey: gw.hpke.publicKey }],
  });
  cloud = await startCloud({
    dataDir: join(dir, 'cloud'),
    gateways: [{ id: 'gw-1', sshPublicKey: sshKey.public }],
    batchIntervalMs: 60_000,
    mode: 'secure',
    enclave,
    maxUploadBytes: 64 * 1024,
  });
});

afterAll(async () => {
  await cloud?.stop();
  await enclave?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('cloud host (secure mode)', () => {
  it('relays attestation through the SFTP inbox/outbox', async () => {
    const c = await connect();
    try {
      const nonce = randomBytes(32);
      await upload(c, `attest-${nonce.toString('hex')}.req`, new Uint8Array(0));
      let quote: Buffer | undefined;
      for (let i = 0; i < 100 && !quote; i++) {
        const names = (await c.list('outbox')).map((e) => e.name);
        if (names.includes(`attest-${nonce.toString('hex')}.quote`)) quote = (await c.get(`outbox/attest-${nonce.toString('hex')}.quote`)) as Buffer;
        else await new Promise((r) => setTimeout(r, 20));
      }
      verified = verifyQuoteDetails(JSON.parse(quote!.toString()), {
        platformPublicKey: ensurePlatformKey(join(dir, 'platform.key')),
        allowedMeasurements: [computeMeasurement()],
        nonce,
        allowSoftwareQuotes: true,
      });
      expect(verified.enclavePublicKey).toEqual(enclave.publicKey);
    } finally {
      await c.end();
    }
  });

  it('processes a micro-batch, quarantines tampered, truncated, replayed and reordered files, and keeps the rest', async () => {
    const c = await connect();
    try {
      const pk = verified.enclavePublicKey;
      const good = [0, 1].map((s) => sealedBatch(gw, pk, 'p1', s, s * 10_000, (s + 1) * 10_000));
      const p2 = [0, 1, 2, 3].map((s) => sealedBatch(gw, pk, 'p2', s, s * 10_000, (s + 1) * 10_000, 90));
      for (const f of [...good, ...p2]) uploadedValues.push(...f.values);
      for (const f of [...good, p2[0]!, p2[1]!, p2[3]!]) await upload(c, f.name, f.bytes);
      const flipped = good[0]!.bytes.slice();
      flipped[200]! ^= 0x10;
      await upload(c, 'p1-flipped.rrb', flipped);
      await upload(c, 'p1-trunc.rrb', good[1]!.bytes.subarray(0, 300));
      const first = await cloud.flush();
      // p2-3's predecessor is missing: it waits in the inbox (bounded reorder), not counted as processed.
      expect(first).toMatchObject({ files: 6, deferred: 1, accepted: 4, rejected: 2 });
      // Next micro-batch: a redelivery of p1-0 and the late p2-2 (after p2-3 arrived).
      await upload(c, 'p1-0-again.rrb', good[0]!.bytes);
      await upload(c, p2[2]!.name, p2[2]!.bytes);
      const p1next = sealedBatch(gw, pk, 'p1', 2, 20_000, 30_000);
      uploadedValues.push(...p1next.values);
      await upload(c, p1next.name, p1next.bytes);
      const second = await cloud.flush();
      expect(second).toMatchObject({ files: 4, deferred: 0, accepted: 3, duplicates: 1, rejected: 0 });
      const s = cloud.stats();
      expect(s.rejected_files.map((r) => [r.name, r.code]).sort()).toEqual(
        [
          ['p1-flipped.rrb', 'HRV_ERR_ENVELOPE_SIGNATURE'],
          ['p1-trunc.rrb', 'HRV_ERR_ENVELOPE_TRUNCATED'],
        ].sort(),
      );
      // The host learns no beat count in secure mode (the results carry them, sealed to the gateway).
      expect(s).toMatchObject({ beats_analysed: 0, alerts: 0, gaps: 0, duplicates: 1, deferred_files: 1 });
      expect(readdirSync(join(dir, 'cloud', 'gateways', 'gw-1', 'inbox'))).toEqual([]);
      const q = readdirSync(join(dir, 'cloud', 'quarantine', 'gw-1'));
      expect(q.filter((n) => n.endsWith('.reason.json'))).toHaveLength(2);
      // One bundle per micro-batch, readable by the gateway over SFTP. p1-0's redelivery came after its result was
      // acknowledged (on the second call): a duplicate with nothing to write.
      const bundles = (await c.list('outbox')).map((e) => e.name).filter((n) => n.endsWith('.bundle')).sort();
      expect(bundles).toHaveLength(2);
      const inBundles = await Promise.all(bundles.map(async (b) => splitResultBundle((await c.get(`outbox/${b}`)) as Buffer)));
      expect(inBundles.map((b) => b.fault)).toEqual([undefined, undefined]);
      expect(inBundles.map((b) => b.entries.map((e) => e.name).sort())).toEqual([
        ['p1-0.result', 'p1-1.result', 'p2-0.result', 'p2-1.result'],
        ['p1-2.result', 'p2-2.result', 'p2-3.result'],
      ]);
      const results = readOutboxResults(join(dir, 'cloud', 'gateways', 'gw-1', 'outbox'));
      const r = openEnvelope(gw.hpke.privateKey, results.get('p2-3.result')!, { expectedKind: 'hrv-result', senderKey: () => verified.enclaveSigningKey });
      const body = JSON.parse(new TextDecoder().decode(r.plaintext)) as HrvResult;
      expect(body.gap).toBe(0);
      expect(body.window.n).toBe(p2.reduce((a, f) => a + f.beats, 0));
      expect(body.window.measures?.mean_hr_bpm).toBeGreaterThan(85);
    } finally {
      await c.end();
    }
  });

  it('leaves no plaintext RR values or CSV text anywhere under cloud/', () => {
    expect(uploadedValues.length).toBeGreaterThan(50);
    const files = walk(join(dir, 'cloud'));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const text = readFileSync(f).toString('latin1');
      expect(text, f).not.toContain('time_ms');
      expect(text, f).not.toContain('rr_ms');
      for (const v of uploadedValues) expect(text.includes(v), `${v} in ${f}`).toBe(false);
    }
  });

  it('confines each gateway: no .., absolute or nested paths, no writes to outbox, no oversized uploads', async () => {
    const c = await connect();
    try {
      await expect(c.put(Buffer.from('x'), '../escape')).rejects.toThrow(/contains '\.\.'/);
      await expect(c.put(Buffer.from('x'), 'inbox/../../gw-2/inbox/x')).rejects.toThrow(/contains '\.\.'/);
      await expect(c.get('/etc/passwd')).rejects.toThrow(/outside \/inbox and \/outbox/);
      await expect(c.put(Buffer.from('x'), '/gateways/gw-1/inbox/x')).rejects.toThrow(/outside \/inbox and \/outbox/);
      await expect(c.put(Buffer.from('x'), 'inbox/sub/x')).rejects.toThrow(/nested/);
      await expect(c.put(Buffer.from('x'), 'inbox/.hidden')).rejects.toThrow(/not allowed/);
      await expect(c.put(Buffer.from('x'), 'outbox/forged.result')).rejects.toThrow(/read-only/);
      await expect(c.rename('outbox/p1-0.result', 'inbox/p1-0.rrb')).rejects.toThrow(/only within \/inbox/);
      await expect(c.put(Buffer.alloc(100 * 1024), 'inbox/big.rrb')).rejects.toThrow(/upload exceed/);
      expect(readdirSync(join(dir, 'cloud', 'gateways', 'gw-1', 'inbox'))).not.toContain('big.rrb');
      const codes = cloud.stats().rejected_files.map((r) => r.code);
      expect(codes).toContain('HRV_ERR_SFTP_PATH');
      expect(codes).toContain('HRV_ERR_SFTP_SIZE');
    } finally {
      await c.end();
    }
  });

  it('refuses unknown gateways and keys that are not enrolled', async () => {
    await expect(connect('gw-unknown')).rejects.toThrow();
    await expect(connect('gw-1', otherKey.private)).rejects.toThrow();
    expect(cloud.stats().rejected_files.filter((r) => r.code === 'HRV_ERR_SFTP_AUTH').length).toBeGreaterThanOrEqual(2);
  });
});

describe('cloud host (plain mode)', () => {
  it('analyses plain files in the host with the same results and sequence checks', async () => {
    const d = mkdtempSync(join(tmpdir(), 'cloud-plain-'));
    const plain = await startCloud({ dataDir: d, gateways: [{ id: 'gw-1', sshPublicKey: sshKey.public }], batchIntervalMs: 60_000, mode: 'plain' });
    const c = new SftpClient();
    try {
      await c.connect({ host: '127.0.0.1', port: plain.port, username: 'gw-1', privateKey: sshKey.private });
      const files = [0, 1].map((s) => {
        const { csv, beats } = rrCsv(s * 10_000, (s + 1) * 10_000, 70);
        return { beats, bytes: encodePlainFile({ v: 1, kind: 'rr-batch', gateway: 'gw-1', patient: 'p1', seq: s, t_start_ms: s * 10_000, t_end_ms: (s + 1) * 10_000, key_id: 'plain' }, Buffer.from(csv)) };
      });
      for (const [i, f] of files.entries()) await upload(c, `p1-${i}.csv`, f.bytes);
      await upload(c, 'p1-replay.csv', files[0]!.bytes);
      const rec = await plain.flush();
      expect(rec).toMatchObject({ files: 3, accepted: 2, duplicates: 1, rejected: 0, beats: files[0]!.beats + files[1]!.beats });
      const res = decodePlainFile(readOutboxResults(join(d, 'gateways', 'gw-1', 'outbox')).get('p1-1.result')!);
      expect((JSON.parse(Buffer.from(res.body).toString()) as HrvResult).window.n).toBe(rec.beats);
    } finally {
      await c.end();
      await plain.stop();
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('bounded reorder', () => {
  it('holds a file whose predecessor is missing for reorderHoldMs, then analyses it with the gap flagged', async () => {
    const d = mkdtempSync(join(tmpdir(), 'cloud-reorder-'));
    const plain = await startCloud({ dataDir: d, gateways: [{ id: 'gw-1', sshPublicKey: sshKey.public }], batchIntervalMs: 60_000, mode: 'plain', reorderHoldMs: 1 });
    const c = new SftpClient();
    try {
      await c.connect({ host: '127.0.0.1', port: plain.port, username: 'gw-1', privateKey: sshKey.private });
      const file = (s: number): Uint8Array => encodePlainFile({ v: 1, kind: 'rr-batch', gateway: 'gw-1', patient: 'p1', seq: s, t_start_ms: s * 10_000, t_end_ms: (s + 1) * 10_000, key_id: 'plain' }, Buffer.from(rrCsv(s * 10_000, (s + 1) * 10_000, 70).csv));
      await upload(c, 'p1-0.csv', file(0));
      await upload(c, 'p1-2.csv', file(2));
      expect(await plain.flush()).toMatchObject({ files: 1, deferred: 1, accepted: 1 });
      expect(readdirSync(join(d, 'gateways', 'gw-1', 'inbox'))).toEqual(['p1-2.csv']);
      // Its hold is over by the next micro-batch: analysed with the gap flagged; the predecessor after that is late:
      // analysed on its own and flagged (finding 11 of docs/faults.md), never refused. The hold is 1 ms of the
      // host's clock: let that clock pass it (two flushes can fall in the same millisecond; a CI run saw it).
      const heldAt = Date.now();
      while (Date.now() - heldAt < 2) await new Promise((r) => setImmediate(r));
      expect(await plain.flush()).toMatchObject({ files: 1, deferred: 0, accepted: 1 });
      expect(plain.stats().gaps).toBe(1);
      await upload(c, 'p1-1.csv', file(1));
      expect(await plain.flush()).toMatchObject({ files: 1, accepted: 1, rejected: 0 });
      expect(plain.stats().rejected_files).toEqual([]);
      const late = readOutboxResults(join(d, 'gateways', 'gw-1', 'outbox')).get('p1-1.result');
      expect(late).toBeDefined();
      const answer = decodePlainFile(late!);
      expect(JSON.parse(Buffer.from(answer.body).toString('utf8'))).toMatchObject({ seq: 1, late: true });
      // At the end of a run nothing more will come: flush({releaseHeld}) analyses a waiting file at once.
      await upload(c, 'p1-4.csv', file(4));
      expect(await plain.flush()).toMatchObject({ files: 0, deferred: 1 });
      expect(await plain.flush({ releaseHeld: true })).toMatchObject({ files: 1, deferred: 0, accepted: 1 });
      expect(plain.stats().gaps).toBe(2);
    } finally {
      await c.end();
      await plain.stop();
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('micro-batch scheduler', () => {
  it('takes the files that arrived on each interval tick by itself, and records processing time', async () => {
    const d = mkdtempSync(join(tmpdir(), 'cloud-tick-'));
    const plain = await startCloud({ dataDir: d, gateways: [{ id: 'gw-1', sshPublicKey: sshKey.public }], batchIntervalMs: 150, mode: 'plain' });
    const c = new SftpClient();
    try {
      await c.connect({ host: '127.0.0.1', port: plain.port, username: 'gw-1', privateKey: sshKey.private });
      const { csv } = rrCsv(0, 10_000, 70);
      await upload(c, 'p9-0.csv', encodePlainFile({ v: 1, kind: 'rr-batch', gateway: 'gw-1', patient: 'p9', seq: 0, t_start_ms: 0, t_end_ms: 10_000, key_id: 'plain' }, Buffer.from(csv)));
      // The tick records the micro-batch, then files its input away in the background (after commit point C3): the
      // test waits for both, each a signal of its own, within a deadline for a loaded machine.
      const inbox = join(d, 'gateways', 'gw-1', 'inbox');
      const deadline = Date.now() + 10_000;
      while ((plain.stats().batches === 0 || readdirSync(inbox).length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const s = plain.stats();
      expect(s.batches).toBe(1);
      expect(s.files).toBe(1);
      expect(s.batch_ms[0]).toBeGreaterThan(0);
      expect(readdirSync(inbox)).toEqual([]);
    } finally {
      await c.end();
      await plain.stop();
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('enclave supervision', () => {
  const enclaveOpts = (d: string): Parameters<typeof spawnEnclave>[0] => ({
    dataDir: join(d, 'enclave'),
    platformKeyFile: join(d, 'platform.key'),
    enrolledGateways: [{ id: gw.id, signingPublicKey: gw.signing.publicKey, hpkePublicKey: gw.hpke.publicKey }],
  });
  /** A log sink that resolves `restarted` at the supervisor's next 'enclave restarted' line. */
  function restartWatch(): { log: NonNullable<Parameters<typeof spawnEnclave>[0]['log']>; restarted: () => Promise<void>; lines: string[] } {
    const lines: string[] = [];
    let wake: (() => void) | undefined;
    let seen = 0;
    return {
      lines,
      log: (_level, msg) => {
        lines.push(msg);
        if (msg === 'enclave restarted') {
          seen++;
          wake?.();
        }
      },
      restarted: () => (seen > 0 ? Promise.resolve() : new Promise<void>((r) => (wake = r))),
    };
  }

  it('kills a hung enclave (watchdog), restarts it, and retries the failed micro-batch, which is not counted as processed', async () => {
    const d = mkdtempSync(join(tmpdir(), 'cloud-hang-'));
    const watch = restartWatch();
    const enclave = await spawnEnclave({ ...enclaveOpts(d), callTimeoutMs: 1500, env: { ...process.env, HRVAULT_FAILPOINTS: 'enclave.before-batch=hang' }, log: watch.log });
    const hungPid = enclave.pid;
    const host = await startCloud({ dataDir: join(d, 'cloud'), gateways: [{ id: 'gw-1', sshPublicKey: sshKey.public }], batchIntervalMs: 60_000, mode: 'secure', enclave });
    const c = new SftpClient();
    try {
      await c.connect({ host: '127.0.0.1', port: host.port, username: 'gw-1', privateKey: sshKey.private });
      const f = sealedBatch(gw, enclave.publicKey, 'p1', 0, 0, 10_000);
      await upload(c, f.name, f.bytes);
      expect(await host.flush()).toMatchObject({ files: 0, failed: 1, accepted: 0 });
      expect(host.stats()).toMatchObject({ files: 0, failed_files: 1, beats_analysed: 0, results_written: 0, enclave_restarts: 1 });
      expect(watch.lines).toContain('enclave hung: watchdog kills it');
      expect(readdirSync(join(d, 'cloud', 'gateways', 'gw-1', 'inbox'))).toEqual([f.name]);
      // The retry waits for the restarted process (which comes up without the failpoint) and succeeds.
      expect(await host.flush()).toMatchObject({ files: 1, failed: 0, accepted: 1 });
      expect(enclave.pid).not.toBe(hungPid);
      expect(() => process.kill(hungPid, 0)).toThrow();
      expect([...readOutboxResults(join(d, 'cloud', 'gateways', 'gw-1', 'outbox')).keys()]).toEqual(['p1-0.result']);
      expect(host.stats()).toMatchObject({ files: 1, failed_files: 1, results_written: 1, enclave_restarts: 1 });
    } finally {
      await c.end();
      await host.stop();
      await enclave.close();
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('restarts a SIGKILLed enclave by itself; the new process resumes from the sealed state: nothing lost, nothing accepted twice', async () => {
    const d = mkdtempSync(join(tmpdir(), 'cloud-respawn-'));
    const watch = restartWatch();
    const enclave = await spawnEnclave({ ...enclaveOpts(d), log: watch.log });
    const host = await startCloud({ dataDir: join(d, 'cloud'), gateways: [{ id: 'gw-1', sshPublicKey: sshKey.public }], batchIntervalMs: 60_000, mode: 'secure', enclave });
    const c = new SftpClient();
    try {
      await c.connect({ host: '127.0.0.1', port: host.port, username: 'gw-1', privateKey: sshKey.private });
      const f = [0, 1].map((s) => sealedBatch(gw, enclave.publicKey, 'p1', s, s * 10_000, (s + 1) * 10_000));
      const publicKey = enclave.publicKey;
      await upload(c, f[0]!.name, f[0]!.bytes);
      expect(await host.flush()).toMatchObject({ accepted: 1 });
      const first = enclave.pid;
      process.kill(first, 'SIGKILL');
      await watch.restarted();
      expect(enclave.pid).not.toBe(first);
      expect(host.stats().enclave_restarts).toBe(1);
      // The quote path works again without any micro-batch having run.
      expect((await enclave.quote(new Uint8Array(randomBytes(32)))).enclave_public_key).toBe(Buffer.from(publicKey).toString('hex'));
      await upload(c, f[1]!.name, f[1]!.bytes);
      expect(await host.flush()).toMatchObject({ files: 1, failed: 0, accepted: 1 });
      expect(host.stats()).toMatchObject({ files: 2, failed_files: 0, results_written: 2 });
    } finally {
      await c.end();
      await host.stop();
      await enclave.close();
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('the enclave ignores SIGTERM and SIGINT to its process group: the host owns its shutdown', async () => {
    const d = mkdtempSync(join(tmpdir(), 'cloud-sigterm-'));
    const enclave = await spawnEnclave(enclaveOpts(d));
    try {
      const pid = enclave.pid;
      process.kill(pid, 'SIGTERM');
      process.kill(pid, 'SIGINT');
      const f = sealedBatch(gw, enclave.publicKey, 'p1', 0, 0, 10_000);
      expect((await enclave.processBatch([f])).stats.accepted).toBe(1);
      expect((await enclave.processBatch([])).stats.files).toBe(0);
      expect(enclave.pid).toBe(pid);
      expect(enclave.restarts).toBe(0);
    } finally {
      await enclave.close();
      rmSync(d, { recursive: true, force: true });
    }
  });
});
