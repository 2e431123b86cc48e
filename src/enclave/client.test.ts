import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { openEnvelope, verifyQuoteDetails } from '../crypto/index.js';
import { computeMeasurement, DEDUPE_WINDOW, ensurePlatformKey, spawnEnclave, type BatchFile, type BatchOutcome, type HrvResult } from './index.js';
import { makeGateway, sealedBatch } from '../test-support/sealed-batches.js';

const dir = mkdtempSync(join(tmpdir(), 'enclave-proc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const gw = makeGateway('gw-1');
const opts = {
  dataDir: join(dir, 'enclave'),
  platformKeyFile: join(dir, 'platform.key'),
  enrolledGateways: [{ id: gw.id, signingPublicKey: gw.signing.publicKey, hpkePublicKey: gw.hpke.publicKey }],
};

describe('enclave process', () => {
  it('runs in its own process, attests, analyses, and resumes after SIGKILL', async () => {
    const enclave = await spawnEnclave(opts);
    try {
      expect(enclave.pid).not.toBe(process.pid);
      const nonce = new Uint8Array(randomBytes(32));
      const verified = verifyQuoteDetails(await enclave.quote(nonce), {
        platformPublicKey: ensurePlatformKey(opts.platformKeyFile),
        allowedMeasurements: [computeMeasurement()],
        nonce,
        allowSoftwareQuotes: true,
      });
      expect(verified.enclavePublicKey).toEqual(enclave.publicKey);
      const out = await enclave.processBatch([sealedBatch(gw, verified.enclavePublicKey, 'p1', 0, 0, 10_000)]);
      expect(out.rejected).toEqual([]);
      const opened = openEnvelope(gw.hpke.privateKey, out.results[0]!.bytes, { senderKey: () => verified.enclaveSigningKey });
      expect((JSON.parse(new TextDecoder().decode(opened.plaintext)) as HrvResult).seq).toBe(0);
    } finally {
      await enclave.close();
    }
    const again = await spawnEnclave(opts);
    try {
      expect(again.publicKey).toEqual(enclave.publicKey);
      const out = await again.processBatch([sealedBatch(gw, again.publicKey, 'p1', 0, 0, 10_000), sealedBatch(gw, again.publicKey, 'p1', 1, 10_000, 20_000)]);
      expect(out.rejected).toEqual([]);
      expect(out.stats).toMatchObject({ accepted: 1, duplicates: 1 });
      expect(out.results.map((r) => [r.seq, r.duplicate])).toEqual([
        [0, true],
        [1, false],
      ]);
    } finally {
      await again.close();
    }
  });

  /**
   * An enclave armed to crash after its first seal; `retry` gets the files that crashed it handed over again by the
   * restarted process (the supervisor's restart awaited), the enclave closed and its directory removed afterwards.
   */
  async function sealCrash<F extends BatchFile>(files: (publicKey: Uint8Array) => F[], check: (out: BatchOutcome, files: F[], signer: Uint8Array) => void): Promise<void> {
    const d = mkdtempSync(join(tmpdir(), 'enclave-seal-crash-'));
    let restarted!: () => void;
    const up = new Promise<void>((r) => (restarted = r));
    const enclave = await spawnEnclave({ ...opts, dataDir: join(d, 'enclave'), env: { ...process.env, HRVAULT_FAILPOINTS: 'enclave.after-seal=crash' }, log: (_l, msg) => msg === 'enclave restarted' && restarted() });
    try {
      const fs = files(enclave.publicKey);
      await expect(enclave.processBatch(fs)).rejects.toThrow(/exited \(SIGKILL\)/);
      await up;
      const out = await enclave.processBatch(fs);
      expect(out.rejected).toEqual([]);
      expect(out.stats).toMatchObject({ accepted: 0, duplicates: fs.length });
      expect(enclave.restarts).toBe(1);
      check(out, fs, enclave.signingPublicKey);
    } finally {
      await enclave.close();
      rmSync(d, { recursive: true, force: true });
    }
  }

  it('a crash after the state is sealed and before the reply loses no result: the retried file gets it back, analysed once', async () => {
    await sealCrash(
      (key) => [sealedBatch(gw, key, 'p2', 1, 0, 10_000)],
      (out, files, signer) => {
        const opened = openEnvelope(gw.hpke.privateKey, out.results[0]!.bytes, { senderKey: () => signer });
        const body = JSON.parse(new TextDecoder().decode(opened.plaintext)) as HrvResult;
        expect([body.seq, body.window.n]).toEqual([1, files[0]!.beats]);
      },
    );
  });

  it('a crash after the seal of a micro-batch with more files of one patient than the dedupe window: every retried file gets its result back', async () => {
    // The host's backlog after a restart: DEDUPE_WINDOW + 3 files of one patient in one call.
    await sealCrash(
      (key) => Array.from({ length: DEDUPE_WINDOW + 3 }, (_, s) => sealedBatch(gw, key, 'p3', s, s * 10_000, (s + 1) * 10_000)),
      (out, files) => expect(out.results.map((r) => r.seq)).toEqual(files.map((_, s) => s)),
    );
  });
  it('a start waits for an earlier enclave that still holds the sealed state to go, then starts (a host restarted at once after dying alone)', async () => {
    const d = mkdtempSync(join(tmpdir(), 'enclave-lock-'));
    const o = { ...opts, dataDir: join(d, 'enclave') };
    const first = await spawnEnclave(o);
    const log: string[] = [];
    const starting = spawnEnclave({ ...o, log: (_l, msg) => log.push(msg) });
    await vi.waitFor(() => expect(log).toContain('sealed state still held by an earlier enclave process; waiting for it to exit'), { timeout: 10_000 });
    await first.close();
    const second = await starting;
    try {
      expect(second.pid).not.toBe(first.pid);
    } finally {
      await second.close();
    }
  });
  it('refuses to start on a sealed state another live enclave process holds (the orphan of a host that died alone), and starts once it is gone', async () => {
    const d = mkdtempSync(join(tmpdir(), 'enclave-lock-'));
    const o = { ...opts, dataDir: join(d, 'enclave') };
    const first = await spawnEnclave(o);
    try {
      // A start waits for the holder to go, but no longer than its start timeout. The timeout also bounds each child's
      // boot: 1 s was too short for a child to boot and report the lock on a loaded machine (a CI run saw "did not
      // answer init within 1000 ms"), so it is long enough to boot and short enough to give up while the holder lives.
      await expect(spawnEnclave({ ...o, restart: false, startTimeoutMs: 15_000, callTimeoutMs: 15_000 })).rejects.toThrow(new RegExp(`held by enclave process ${first.pid}, still running`));
    } finally {
      await first.close();
    }
    const second = await spawnEnclave(o);
    try {
      expect(second.publicKey).toEqual(first.publicKey);
    } finally {
      await second.close();
      rmSync(d, { recursive: true, force: true });
    }
  });
});
