import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hrvResultSchema, type HrvResult } from '../contracts/index.js';
import { openEnvelope, partitionOf, verifyQuoteDetails } from '../crypto/index.js';
import { makeGateway, sealedBatch } from '../test-support/sealed-batches.js';
import {
  computeMeasurement,
  ensurePlatformKey,
  spawnEnclave,
  type CheckpointPiece,
  type ClusterEnclaveClient,
  type PartitionChain,
} from './index.js';

const P = 8;
const dir = mkdtempSync(join(tmpdir(), 'enclave-cluster-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const gw = makeGateway('gw-1');
/** The platforms w1 and w2 run on, both trusted by both (a deployment trusts its vendor root); w3's is trusted by no one. */
const trust = {
  platformPublicKeys: ['w1', 'w2'].map((n) => ensurePlatformKey(join(dir, `${n}.platform.key`))),
  allowedMeasurements: [computeMeasurement()],
  allowSoftwareQuotes: true,
};
const opts = (name: string) => ({
  dataDir: join(dir, name),
  platformKeyFile: join(dir, `${name}.platform.key`),
  enrolledGateways: [{ id: gw.id, signingPublicKey: gw.signing.publicKey, hpkePublicKey: gw.hpke.publicKey }],
  cluster: { partitions: P, trust },
});

/** The `skip`-th patient pseudonym of partition `p` (searched with partitionOf, not assumed). */
function patientIn(p: number, skip = 0): string {
  for (let i = 0, found = 0; ; i++)
    if (partitionOf(`${gw.id}/pt-${i}`, P) === p && found++ === skip) return `pt-${i}`;
}

function openResult(bytes: Uint8Array, enclave: ClusterEnclaveClient): HrvResult {
  const o = openEnvelope(gw.hpke.privateKey, bytes, {
    expectedKind: 'hrv-result',
    senderKey: () => enclave.signingPublicKey,
  });
  return hrvResultSchema.parse(JSON.parse(new TextDecoder().decode(o.plaintext)));
}

/** The worker's store: a snapshot starts a new chain, a delta is appended. */
function append(chain: PartitionChain, piece: CheckpointPiece | undefined): PartitionChain {
  if (!piece) return chain;
  return piece.kind === 'snapshot'
    ? { snapshot: { id: piece.id, bytes: piece.bytes }, deltas: [] }
    : { snapshot: chain.snapshot!, deltas: [...chain.deltas, { id: piece.id, bytes: piece.bytes }] };
}

describe('enclave process in cluster mode', () => {
  it('bootstraps the cluster, processes a partition into checkpoint pieces, re-opens it after a close and after a restart, and a provisioned worker takes it over', async () => {
    const o = opts('w1');
    let restarted!: (n: number) => void;
    const up = new Promise<number>((r) => (restarted = r));
    const w1 = await spawnEnclave({ ...o, onRestart: (n) => restarted(n) });
    let w2: ClusterEnclaveClient | undefined;
    try {
      expect(w1.clusterReady).toBe(false);
      expect(() => w1.publicKey).toThrow(/no cluster secrets yet/);
      await expect(w1.quote(new Uint8Array(randomBytes(32)))).rejects.toThrow(/no cluster secrets yet/);
      const keys = await w1.bootstrapCluster();
      expect(w1.clusterReady).toBe(true);
      expect(w1.publicKey).toEqual(keys.publicKey);
      await expect(w1.bootstrapCluster()).rejects.toMatchObject({ code: 'HRV_ERR_CONFLICT' });
      const nonce = new Uint8Array(randomBytes(32));
      const verified = verifyQuoteDetails(await w1.quote(nonce), {
        platformPublicKey: ensurePlatformKey(o.platformKeyFile),
        allowedMeasurements: [computeMeasurement()],
        nonce,
        allowSoftwareQuotes: true,
      });
      expect(verified.enclavePublicKey).toEqual(keys.publicKey);

      const p = 5;
      const pt = patientIn(p);
      const f = [0, 1, 2, 3, 4].map((s) =>
        sealedBatch(gw, keys.publicKey, pt, s, s * 10_000, (s + 1) * 10_000),
      );
      await expect(w1.processBatch([f[0]!])).rejects.toThrow(/cluster mode/);
      await expect(w1.processPartition(p, [f[0]!])).rejects.toMatchObject({ code: 'HRV_ERR_PARTITION' });
      expect(await w1.openPartition(p, { deltas: [] })).toEqual({ commit: 0, deltas: 0 });
      const stranger = sealedBatch(gw, keys.publicKey, patientIn(p + 1), 0, 0, 10_000);
      const first = await w1.processPartition(p, [f[0]!, stranger]);
      expect(first.rejected).toEqual([
        { name: stranger.name, code: 'HRV_ERR_PARTITION', reason: expect.any(String) },
      ]);
      expect(first.checkpoint).toMatchObject({ kind: 'snapshot' });
      expect(first.checkpoint!.bytes).toBeInstanceOf(Uint8Array);
      let chain = append({ deltas: [] }, first.checkpoint);
      const second = await w1.processPartition(p, [f[1]!]);
      expect(second.checkpoint).toMatchObject({ kind: 'delta', index: 0, snapshot: first.checkpoint!.id });
      chain = append(chain, second.checkpoint);

      // Closed (say the store failed) and re-opened from what was stored: the redelivered file is a duplicate.
      expect(await w1.closePartition(p)).toBe(true);
      await expect(w1.processPartition(p, [f[1]!])).rejects.toMatchObject({ code: 'HRV_ERR_PARTITION' });
      expect(await w1.openPartition(p, chain)).toEqual({ commit: 2, deltas: 1 });
      const again = await w1.processPartition(p, [f[1]!]);
      expect(again.stats).toMatchObject({ accepted: 0, duplicates: 1 });
      expect(Buffer.from(again.results[0]!.bytes).equals(Buffer.from(second.results[0]!.bytes))).toBe(true);

      // The enclave process dies: the supervisor restarts it with its sealed cluster secrets and no open partition.
      process.kill(w1.pid, 'SIGKILL');
      expect(await up).toBe(1);
      expect(w1.clusterReady).toBe(true);
      expect(w1.publicKey).toEqual(keys.publicKey);
      await expect(w1.processPartition(p, [f[2]!])).rejects.toMatchObject({ code: 'HRV_ERR_PARTITION' });
      await w1.openPartition(p, chain);
      const third = await w1.processPartition(p, [f[2]!]);
      expect(openResult(third.results[0]!.bytes, w1).window.n).toBe(f[0]!.beats + f[1]!.beats + f[2]!.beats);
      chain = append(chain, third.checkpoint);

      // A second worker, provisioned by w1 through the attested hand-over (the host relays request and answer).
      w2 = await spawnEnclave(opts('w2'));
      expect(w2.clusterReady).toBe(false);
      await expect(w2.quote(new Uint8Array(32))).rejects.toThrow(/no cluster secrets/);
      const request = await w2.provisionRequest();
      const answer = await w1.provisionAnswer(JSON.parse(JSON.stringify(request)));
      // A relay that tampers with the answer gets nothing installed.
      const forged = { ...answer, ciphertext: answer.ciphertext.replace(/^../, answer.ciphertext.startsWith('00') ? '01' : '00') };
      await expect(w2.provisionAccept(forged)).rejects.toMatchObject({ code: 'HRV_ERR_PROVISION_SIGNATURE' });
      expect(w2.clusterReady).toBe(false);
      expect(await w2.provisionAccept(JSON.parse(JSON.stringify(answer)))).toEqual(keys);
      // An enclave on a platform nobody trusts is refused the secrets.
      const w3 = await spawnEnclave(opts('w3'));
      try {
        await expect(w1.provisionAnswer(await w3.provisionRequest())).rejects.toMatchObject({ code: 'HRV_ERR_ATTESTATION_SIGNATURE' });
      } finally {
        await w3.close();
      }
      expect(w2.clusterReady).toBe(true);
      expect(await w2.openPartition(p, chain)).toEqual({ commit: 3, deltas: 2 });
      const fourth = await w2.processPartition(p, [f[3]!, f[2]!]);
      expect(fourth.stats).toMatchObject({ accepted: 1, duplicates: 1, rejected: 0 });
      const r = openResult(fourth.results.find((x) => !x.duplicate)!.bytes, w2);
      expect([r.seq, r.window.n, r.state_commit]).toEqual([
        3,
        f.slice(0, 4).reduce((n, x) => n + x.beats, 0),
        { p, n: 4, id: fourth.checkpoint!.id },
      ]);
    } finally {
      await w1.close();
      await w2?.close();
    }
  });
});
