/**
 * The cloud host's commit boundaries under a real crash: `hrvault cloud` runs as its own process (with its
 * enclave child), a failpoint SIGKILLs it between the enclave's reply and the result files, or between the
 * result files and filing the inputs away, and a restarted host must end with every result written exactly
 * once, byte for byte the enclave's original, with no second analysis.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SftpClient from 'ssh2-sftp-client';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPair, generateSshKeyPair, openEnvelope } from '../crypto/index.js';
import { EnclaveCore, type HrvResult } from '../enclave/index.js';
import { exitWithin, spawnCli, type CliProcess } from '../test-support/processes.js';
import { makeGateway, sealedBatch } from '../test-support/sealed-batches.js';
import { outboxBundles, readOutboxResults } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'cloud-commit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const gw = makeGateway('gw-1');
const ssh = generateSshKeyPair();

/** A fresh deployment: gateway keys file, and the enclave's sealed keys created in advance so the test knows its public key. */
function deployment(name: string): { dir: string; args: string[]; enclave: EnclaveCore } {
  const dir = join(root, name);
  const keysFile = join(root, `${name}-gw.json`);
  writeFileSync(
    keysFile,
    JSON.stringify({ id: gw.id, ssh_public_key: ssh.public, signing_public_key: Buffer.from(gw.signing.publicKey).toString('hex'), hpke_public_key: Buffer.from(gw.hpke.publicKey).toString('hex') }),
  );
  mkdirSync(join(dir, 'enclave'), { recursive: true, mode: 0o700 });
  const enclave = new EnclaveCore({ dataDir: join(dir, 'enclave'), platformPrivateKey: generateSigningKeyPair().privateKey, measurement: 'ab'.repeat(32), enrolledGateways: [] });
  const args = ['cloud', '--gateway-keys', keysFile, '--data-dir', join(dir, 'cloud'), '--enclave-dir', join(dir, 'enclave'), '--port', '0', '--batch-interval', '0.2', '--mode', 'secure'];
  return { dir, args, enclave };
}

async function startHost(args: string[], env: Record<string, string> = {}): Promise<{ p: CliProcess; port: number }> {
  const p = spawnCli(args, { env: { HRVAULT_FAILPOINTS: '', ...env } });
  const m = await p.waitFor(/"port":(\d+)[^\n]*"msg":"cloud running"/);
  return { p, port: Number(m[1]) };
}

async function upload(port: number, name: string, bytes: Uint8Array): Promise<void> {
  const c = new SftpClient();
  await c.connect({ host: '127.0.0.1', port, username: gw.id, privateKey: ssh.private, readyTimeout: 20_000 });
  try {
    await c.put(Buffer.from(bytes), `inbox/${name}.part`);
    await c.rename(`inbox/${name}.part`, `inbox/${name}`);
  } finally {
    await c.end();
  }
}

const ls = (dir: string): string[] => readdirSync(dir).sort();

describe('hrvault cloud killed at a commit boundary', () => {
  for (const point of ['cloud.after-enclave-reply', 'cloud.after-results-written'] as const) {
    it(`${point}: the restarted host writes the enclave's original result once; nothing is analysed twice`, async () => {
      const { dir, args, enclave } = deployment(point);
      const inbox = join(dir, 'cloud', 'gateways', gw.id, 'inbox');
      const outbox = join(dir, 'cloud', 'gateways', gw.id, 'outbox');
      const f = sealedBatch(gw, enclave.publicKey, 'p1', 1, 0, 10_000);

      const first = await startHost(args, { HRVAULT_FAILPOINTS: `${point}=crash` });
      await upload(first.port, f.name, f.bytes);
      expect(await exitWithin(first.p, 120_000)).toMatchObject({ signal: 'SIGKILL' });
      // The crash left the input in the inbox, and the result (in its micro-batch's bundle) only when it came after
      // the write.
      expect(ls(inbox)).toEqual([f.name]);
      const before = point === 'cloud.after-results-written' ? readOutboxResults(outbox).get('p1-1.result') : undefined;
      expect(outboxBundles(outbox)).toHaveLength(before ? 1 : 0);
      expect([...readOutboxResults(outbox).keys()]).toEqual(before ? ['p1-1.result'] : []);

      const second = await startHost(args);
      const line = await second.p.waitFor(/\{[^\n]*"msg":"micro-batch"[^\n]*\}/);
      expect(JSON.parse(line[0])).toMatchObject({ files: 1, failed: 0, accepted: 0, duplicates: 1, rejected: 0 });
      expect(ls(inbox)).toEqual([]);
      expect(ls(join(dir, 'cloud', 'store', gw.id))).toEqual([f.name]);
      // The retry's bundle holds the enclave's original bytes again (the gateway refuses the second copy as a replay).
      expect(outboxBundles(outbox)).toHaveLength(before ? 2 : 1);
      expect(ls(outbox).filter((n) => !outboxBundles(outbox).includes(n))).toEqual([]);
      const after = readOutboxResults(outbox).get('p1-1.result')!;
      if (before) expect(after.equals(before)).toBe(true);
      const opened = openEnvelope(gw.hpke.privateKey, after, { expectedKind: 'hrv-result', senderKey: () => enclave.signingPublicKey });
      const body = JSON.parse(new TextDecoder().decode(opened.plaintext)) as HrvResult;
      expect([body.seq, body.gap, body.window.n]).toEqual([1, 0, f.beats]);

      // A SIGTERM to the whole process group (as a service manager sends it) stops the host cleanly: the enclave
      // child ignores it and is closed by its parent after the drain.
      second.p.signalGroup('SIGTERM');
      const exit = await exitWithin(second.p, 60_000);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(JSON.parse(second.p.stdout().trim())).toMatchObject({ files: 1, beats_analysed: 0, failed_files: 0, enclave_restarts: 0 });
      expect(second.p.stderr()).not.toMatch(/enclave process lost/);
    });
  }

  it("cloud.after-inputs-done: the restarted host files the input from the done manifest at start; no second analysis, no second result", async () => {
    const point = 'cloud.after-inputs-done';
    const { dir, args, enclave } = deployment(point);
    const inbox = join(dir, 'cloud', 'gateways', gw.id, 'inbox');
    const outbox = join(dir, 'cloud', 'gateways', gw.id, 'outbox');
    const f = sealedBatch(gw, enclave.publicKey, 'p1', 1, 0, 10_000);

    const first = await startHost(args, { HRVAULT_FAILPOINTS: `${point}=crash` });
    await upload(first.port, f.name, f.bytes);
    expect(await exitWithin(first.p, 120_000)).toMatchObject({ signal: 'SIGKILL' });
    // The result's bundle and the done manifest are durable; the input is still in the inbox.
    expect(ls(inbox)).toEqual([f.name]);
    expect(outboxBundles(outbox)).toHaveLength(1);
    expect(ls(join(dir, 'cloud', 'filing')).filter((n) => n.endsWith('.json'))).toHaveLength(1);
    const before = readOutboxResults(outbox).get('p1-1.result')!;

    const second = await startHost(args);
    // Filed before the host runs: not handed to the enclave again.
    expect(ls(inbox)).toEqual([]);
    expect(ls(join(dir, 'cloud', 'store', gw.id))).toEqual([f.name]);
    expect(ls(join(dir, 'cloud', 'filing'))).toEqual([]);
    expect(outboxBundles(outbox)).toHaveLength(1);
    expect(readOutboxResults(outbox).get('p1-1.result')!.equals(before)).toBe(true);
    // The patient's stream goes on from there: the next file is analysed in order (no gap, nothing refused).
    const next = sealedBatch(gw, enclave.publicKey, 'p1', 2, 10_000, 20_000);
    await upload(second.port, next.name, next.bytes);
    const line = await second.p.waitFor(/\{[^\n]*"msg":"micro-batch"[^\n]*\}/);
    expect(JSON.parse(line[0])).toMatchObject({ files: 1, failed: 0, accepted: 1, duplicates: 0, rejected: 0 });
    const bundles = outboxBundles(outbox);
    expect(bundles).toHaveLength(2);
    const opened = openEnvelope(gw.hpke.privateKey, readOutboxResults(outbox).get('p1-2.result')!, { expectedKind: 'hrv-result', senderKey: () => enclave.signingPublicKey });
    expect((JSON.parse(new TextDecoder().decode(opened.plaintext)) as HrvResult).gap).toBe(0);

    second.p.signalGroup('SIGTERM');
    expect(await exitWithin(second.p, 60_000)).toEqual({ code: 0, signal: null });
    expect(JSON.parse(second.p.stdout().trim())).toMatchObject({ files: 1, failed_files: 0, enclave_restarts: 0 });
  });
});
