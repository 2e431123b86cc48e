/**
 * A zombie worker on the nats-server at 127.0.0.1:4222 (skipped with a printed reason where none answers): worker A
 * has analysed a micro-batch in its enclave and stalls before its commit (W1) long enough for worker B to take the
 * partition over. A's late commit must be refused, A must publish nothing, and B must answer the redelivered file
 * with the one result the results stream then holds, under B's fencing token. Two real enclave processes (B
 * provisioned by A), real sealed gateway files.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageType, type JsMsg } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { afterAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../crypto/index.js';
import {
  computeMeasurement,
  ensurePlatformKey,
  spawnEnclave,
  type ClusterEnclaveClient,
} from '../enclave/index.js';
import {
  ensureResultsStream,
  ensureWorkStream,
  openLeaseBucket,
  parseResultsOptions,
  parseWorkOptions,
  PartitionLeases,
  publishRefusal,
  publishResult,
  publishWork,
  readResultHeaders,
  subjects,
  workConsumer,
  workConsumerName,
} from '../jetstream/index.js';
import { standaloneSkipReason, useStandalone } from '../jetstream/test-support/standalone.js';
import { makeGateway, sealedBatch } from '../test-support/sealed-batches.js';
import { CheckpointStore, parseChain } from './checkpoints.js';
import { PartitionRunner, type PartitionEnclave, type ResultSink } from './partition-runner.js';

const skipReason = await standaloneSkipReason();
const dir = mkdtempSync(join(tmpdir(), 'runner-zombie-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(skipReason !== null)('a partition runner that lost its lease mid-batch', () => {
  const s = useStandalone();

  it('cannot commit or publish; the new owner answers the file once, under its own token', async () => {
    const prefix = `zomb${randomBytes(3).toString('hex')}`;
    const P = 2;
    const work = parseWorkOptions({ prefix, partitions: P, replicas: 1, ackWaitMs: 60_000 });
    const results = parseResultsOptions({ prefix, replicas: 1 });
    s.streams.push(
      work.stream,
      results.stream,
      `KV_${subjects(prefix).leasesBucket}`,
      `OBJ_${subjects(prefix).stateBucket}`,
    );
    await ensureWorkStream(s.jsm, work);
    await ensureResultsStream(s.jsm, results);
    for (let p = 0; p < P; p++) await workConsumer(s.jsm, work, p);
    const bucket = await openLeaseBucket(s.nc, { bucket: subjects(prefix).leasesBucket, replicas: 1 });
    const store = new CheckpointStore(
      await new Objm(s.js).create(subjects(prefix).stateBucket, { replicas: 1, storage: StorageType.File }),
    );

    const gw = makeGateway('gw-z');
    const platformKeyFile = join(dir, 'platform.key');
    const trust = {
      platformPublicKeys: [ensurePlatformKey(platformKeyFile)],
      allowedMeasurements: [computeMeasurement()],
      allowSoftwareQuotes: true,
    };
    const spawn = (name: string): Promise<ClusterEnclaveClient> =>
      spawnEnclave({
        dataDir: join(dir, name),
        platformKeyFile,
        enrolledGateways: [
          { id: gw.id, signingPublicKey: gw.signing.publicKey, hpkePublicKey: gw.hpke.publicKey },
        ],
        cluster: { partitions: P, trust },
      });
    const ea = await spawn('a');
    const eb = await spawn('b');
    try {
      await ea.bootstrapCluster();
      await eb.provisionAccept(await ea.provisionAnswer(await eb.provisionRequest()));
      let patient = '';
      for (let i = 0; patient === ''; i++) if (partitionOf(`${gw.id}/pt-${i}`, P) === 0) patient = `pt-${i}`;
      const file = sealedBatch(gw, ea.publicKey, patient, 0, 0, 10_000);
      await publishWork(s.js, work, {
        id: `${gw.id}/${file.name}`,
        pseudonym: `${gw.id}/${patient}`,
        bytes: file.bytes,
        headers: { gateway: gw.id, file: file.name },
      });

      const published: string[] = [];
      const sink = (who: string): ResultSink => ({
        result: async (r) => {
          published.push(`${who}:${r.result}`);
          await publishResult(s.js, results, r);
        },
        refusal: async (r) => {
          published.push(`${who}:refusal:${r.file}`);
          await publishRefusal(s.js, results, r);
        },
      });
      const fetch = async (max: number, expiresMs: number): Promise<JsMsg[]> => {
        const c = await s.js.consumers.get(work.stream, workConsumerName(work, 0));
        const out: JsMsg[] = [];
        for await (const m of await c.fetch({ max_messages: max, expires: expiresMs })) out.push(m);
        return out;
      };
      const log = (): void => undefined;

      // A analyses the file in its enclave, then stalls before W1 until B owns the partition.
      let analysed!: () => void;
      const aAnalysed = new Promise<void>((r) => (analysed = r));
      let resume!: () => void;
      const aResumes = new Promise<void>((r) => (resume = r));
      const stalling: PartitionEnclave = {
        openPartition: (p, chain) => ea.openPartition(p, chain),
        closePartition: (p) => ea.closePartition(p),
        processPartition: async (p, files, written) => {
          const out = await ea.processPartition(p, files, written);
          analysed();
          await aResumes;
          return out;
        },
      };
      const leasesA = new PartitionLeases(bucket, { worker: 'A', ttlMs: 3000, maxClockSkewMs: 0 });
      const leaseA = (await leasesA.acquire(0))!;
      expect(leaseA).not.toBeNull();
      const runnerA = new PartitionRunner({
        partition: 0,
        leases: leasesA,
        lease: leaseA,
        store,
        enclave: stalling,
        work: { fetch },
        sink: sink('A'),
        maxBatch: 10,
        fetchMs: 1000,
        reorderHoldMs: 0,
        sweepAgeMs: 60_000,
        log,
      });
      await aAnalysed;

      // B's clock runs a minute ahead: it judges A's lease expired now, as any worker would once A stalled past its TTL.
      const leasesB = new PartitionLeases(bucket, {
        worker: 'B',
        ttlMs: 10_000,
        maxClockSkewMs: 0,
        now: () => Date.now() + 60_000,
      });
      let leaseB = await leasesB.acquire(0);
      for (let i = 0; leaseB === null && i < 50; i++) leaseB = await leasesB.acquire(0); // A's renewal may win a round
      expect(leaseB, 'B took the partition').not.toBeNull();
      resume();
      const endA = await runnerA.done;
      expect(endA.kind).toBe('lost');
      expect(published, 'the zombie published nothing').toEqual([]);
      expect((await leasesB.read(0))?.value.commit, 'no chain names the zombie piece').toBeUndefined();

      const runnerB = new PartitionRunner({
        partition: 0,
        leases: leasesB,
        lease: leaseB!,
        store,
        enclave: eb,
        work: { fetch },
        sink: sink('B'),
        maxBatch: 10,
        fetchMs: 1000,
        reorderHoldMs: 0,
        sweepAgeMs: 0,
        log,
      });
      const deadline = Date.now() + 60_000;
      while (published.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await runnerB.stop();
      expect(published).toEqual([`B:${patient}-0.result`]);
      const info = await s.jsm.streams.info(results.stream);
      expect(info.state.messages).toBe(1);
      const m = await s.jsm.streams.getMessage(results.stream, { seq: info.state.first_seq });
      const h = readResultHeaders(m!.header);
      expect(h.token).toBe(runnerB.lease.token);
      expect(h.token).toBeGreaterThan(leaseA.token);
      // B's chain is committed; the zombie's candidate piece was swept when B opened the partition (age guard 0 here).
      const chain = parseChain((await leasesB.read(0))!.value.commit);
      expect(chain).toBeDefined();
      expect((await store.read(0, chain)).snapshot).toBeDefined();
    } finally {
      await ea.close();
      await eb.close();
    }
  });
});
