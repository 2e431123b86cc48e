/**
 * The work stream against the standalone nats-server on 127.0.0.1:4222 (skipped with a printed reason where
 * none answers or it has no JetStream): duplicate window, partition subjects, work-queue removal on ack,
 * redelivery after ack_wait, and max_ack_pending as back-pressure. The server is shared: every test makes
 * its own stream under a prefix of this run's own and deletes it at the end.
 */
import { randomBytes } from 'node:crypto';
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { waitUntil } from '../test-support/nats-cluster.js';
import {
  ensureWorkStream,
  parseWorkOptions,
  partitionOf,
  publishWork,
  workConsumer,
  workConsumerName,
  workSubject,
  type WorkOptions,
  type WorkOptionsInput,
} from './index.js';
import { NATS_URL, standaloneSkipReason } from './test-support/standalone.js';

const skipReason = await standaloneSkipReason();

const RUN = `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

describe.skipIf(skipReason !== null)('the work stream on a JetStream server', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let js: JetStreamClient;
  const streams: string[] = [];
  let n = 0;

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL, timeout: 2000 });
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
  });

  afterAll(async () => {
    for (const s of streams) await jsm.streams.delete(s).catch(() => undefined);
    await nc?.close();
  });

  /** A stream of this test's own (unique prefix, so its subjects overlap no other stream's). */
  async function freshStream(extra: Partial<WorkOptionsInput> = {}): Promise<WorkOptions> {
    const input: WorkOptionsInput = { prefix: `${RUN}-${n++}`, partitions: 4, replicas: 1, ...extra };
    const o = parseWorkOptions(input);
    streams.push(o.stream);
    await ensureWorkStream(jsm, o);
    return o;
  }

  /** A pseudonym that `partitionOf` sends to `partition` (searched, not assumed). */
  function pseudonymOn(o: WorkOptions, partition: number, skip = 0): string {
    for (let i = 0, found = 0; ; i++) {
      const p = `patient-${i}`;
      if (partitionOf(p, o.partitions) === partition && found++ === skip) return p;
    }
  }

  /** Pulls up to `max` messages from `partition`'s consumer, waiting at most `expiresMs` for them. */
  async function pull(o: WorkOptions, partition: number, max: number, expiresMs: number): Promise<JsMsg[]> {
    const c = await js.consumers.get(o.stream, workConsumerName(o, partition));
    const out: JsMsg[] = [];
    for await (const m of await c.fetch({ max_messages: max, expires: expiresMs })) out.push(m);
    return out;
  }

  async function storedCount(o: WorkOptions): Promise<number> {
    return (await jsm.streams.info(o.stream)).state.messages;
  }

  it('stores a file once when it is re-published within the duplicate window, even after it was processed', async () => {
    const o = await freshStream();
    const file = { id: `${RUN}-file-1`, pseudonym: 'patient-a', bytes: new TextEncoder().encode('batch') };
    const first = await publishWork(js, o, file);
    const again = await publishWork(js, o, file);
    expect(first.duplicate).toBe(false);
    expect(again).toEqual({ seq: first.seq, duplicate: true });
    expect(await storedCount(o)).toBe(1);

    // A host that crashed after the worker acknowledged the file, and publishes it again on restart.
    const partition = partitionOf(file.pseudonym, o.partitions);
    await workConsumer(jsm, o, partition);
    const [m] = await pull(o, partition, 1, 2000);
    expect(m?.seq).toBe(first.seq);
    await m!.ackAck();
    expect(await storedCount(o)).toBe(0);
    expect((await publishWork(js, o, file)).duplicate).toBe(true);
    expect(await storedCount(o)).toBe(0);
    // Another id is another file.
    expect((await publishWork(js, o, { ...file, id: `${RUN}-file-2` })).duplicate).toBe(false);
  });

  it("puts each file on its pseudonym's partition subject, and a partition's consumer sees only its own", async () => {
    const o = await freshStream();
    const byPartition = new Map<number, number[]>();
    for (let i = 0; i < 20; i++) {
      const pseudonym = `patient-${i}`;
      const { seq } = await publishWork(js, o, { id: `${RUN}-f${i}`, pseudonym, bytes: new Uint8Array([i]) });
      const stored = await jsm.streams.getMessage(o.stream, { seq });
      const partition = partitionOf(pseudonym, o.partitions);
      expect(stored?.subject).toBe(workSubject(o, partition));
      byPartition.set(partition, [...(byPartition.get(partition) ?? []), seq]);
    }
    expect(byPartition.size).toBeGreaterThan(1);
    const [partition, seqs] = [...byPartition.entries()][0]!;
    await workConsumer(jsm, o, partition);
    const got = await pull(o, partition, 20, 1000);
    expect(got.map((m) => m.seq)).toEqual(seqs);
    for (const m of got) expect(m.subject).toBe(workSubject(o, partition));
  });

  it('removes a message once acknowledged and redelivers one not acknowledged after ack_wait', async () => {
    const o = await freshStream({ ackWaitMs: 1000 });
    const pseudonym = pseudonymOn(o, 2);
    for (const id of ['x', 'y'])
      await publishWork(js, o, { id: `${RUN}-${id}`, pseudonym, bytes: new Uint8Array([1]) });
    await workConsumer(jsm, o, 2);
    // Before the first delivery, so the redelivery cannot come sooner than ack_wait after it.
    const pulledAt = performance.now();
    const [acked, held] = await pull(o, 2, 2, 2000);
    expect(held).toBeDefined();
    await acked!.ackAck();
    // Acknowledged: gone from the stream. Not yet acknowledged: still there.
    expect(await storedCount(o)).toBe(1);

    const [again] = await pull(o, 2, 1, 3000);
    const waitedMs = performance.now() - pulledAt;
    expect(again?.seq).toBe(held!.seq);
    expect(again!.info.deliveryCount).toBe(2);
    expect(again!.redelivered).toBe(true);
    // Not before ack_wait (less a little for two clocks' rounding).
    expect(waitedMs).toBeGreaterThanOrEqual(950);
    await again!.ackAck();
    await waitUntil('stream empty after the last ack', 5000, async () =>
      (await storedCount(o)) === 0 ? true : undefined,
    );
  });

  it('delivers no more than max_ack_pending unacknowledged messages to a partition', async () => {
    const o = await freshStream({ maxAckPending: 2 });
    const pseudonym = pseudonymOn(o, 1);
    for (let i = 0; i < 3; i++)
      await publishWork(js, o, { id: `${RUN}-m${i}`, pseudonym, bytes: new Uint8Array([i]) });
    const info = await workConsumer(jsm, o, 1);
    expect(info.config.max_ack_pending).toBe(2);

    const held = await pull(o, 1, 3, 1000);
    expect(held.map((m) => m.seq)).toEqual([1, 2]);
    await held[0]!.ackAck();
    const next = await pull(o, 1, 3, 1000);
    expect(next.map((m) => m.seq)).toEqual([3]);
    for (const m of [held[1]!, next[0]!]) await m.ackAck();
  });

  it('creates or updates the stream and the consumers idempotently, and refuses what it cannot change', async () => {
    const o = await freshStream();
    const again = await ensureWorkStream(jsm, { ...o, maxBytes: 1 << 20, duplicateWindowMs: 5000 });
    expect(again.config).toMatchObject({
      retention: 'workqueue',
      storage: 'file',
      discard: 'new',
      max_bytes: 1 << 20,
      duplicate_window: 5000 * 1_000_000,
      subjects: [`${o.prefix}.work.*`],
    });
    const c1 = await workConsumer(jsm, o, 0);
    const c2 = await workConsumer(jsm, { ...o, maxAckPending: 7, ackWaitMs: 2000 }, 0);
    expect(c2.name).toBe(c1.name);
    expect(c2.config).toMatchObject({
      max_ack_pending: 7,
      ack_wait: 2000 * 1_000_000,
      ack_policy: 'explicit',
    });

    // A same-named stream that is not a work queue.
    const other = parseWorkOptions({ prefix: `${RUN}-${n++}`, partitions: 1, replicas: 1 });
    streams.push(other.stream);
    await jsm.streams.add({ name: other.stream, subjects: [`${other.prefix}.other`] });
    await expect(ensureWorkStream(jsm, other)).rejects.toThrow(ConfigError);
  });

  it('refuses a publish when the stream is full instead of dropping queued work', async () => {
    const o = await freshStream({ maxBytes: 4096 });
    const pseudonym = 'patient-full';
    let refused: unknown;
    for (let i = 0; i < 10 && refused === undefined; i++) {
      try {
        await publishWork(js, o, { id: `${RUN}-big${i}`, pseudonym, bytes: new Uint8Array(1000) });
      } catch (err) {
        refused = err;
      }
    }
    expect(String(refused)).toMatch(/maximum bytes/i);
    // The first file is still queued: nothing old was discarded to make room.
    const first = await jsm.streams.getMessage(o.stream, { seq: 1 });
    expect(first?.seq).toBe(1);
  });
});
