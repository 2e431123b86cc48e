/**
 * A worker's pull of a partition's work when the link to the nats-server goes silent for longer than the pull (on the
 * server at 127.0.0.1:4222, through a fault proxy; skipped with a printed reason where none answers). nats.js ends
 * such a fetch with "heartbeats missed"; that must end the pull, not the partition's runner, and a message the server
 * sent into the silence must come back to a later pull after the ack wait.
 */
import { randomBytes } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { startFaultProxy } from '../test-support/fault-proxy.js';
import { waitUntil } from '../test-support/nats-cluster.js';
import { ensureWorkStream, parseWorkOptions, publishWork, workConsumer, workConsumerName } from '../jetstream/index.js';
import { NATS_URL, standaloneSkipReason, useStandalone } from '../jetstream/test-support/standalone.js';
import { workSource } from './worker.js';

const skipReason = await standaloneSkipReason();

describe.skipIf(skipReason !== null)('a partition pull over a link that goes silent', () => {
  const s = useStandalone();

  it('ends the pull without failing, and a message sent into the silence is delivered again after the ack wait', async () => {
    const work = parseWorkOptions({ prefix: `wsrc_${randomBytes(4).toString('hex')}`, partitions: 1, replicas: 1, ackWaitMs: 1000 });
    s.streams.push(work.stream);
    await ensureWorkStream(s.jsm, work);
    await workConsumer(s.jsm, work, 0);
    const proxy = await startFaultProxy(Number(NATS_URL.split(':')[1]));
    const nc = await connect({ servers: `127.0.0.1:${proxy.port}`, timeout: 2000 });
    try {
      const source = workSource(jetstream(nc), work, 0);
      const publish = async (n: number): Promise<void> => {
        await publishWork(s.js, work, { id: `gw/f${n}`, pseudonym: 'gw/p1', bytes: new Uint8Array([n]), headers: { gateway: 'gw', file: `f${n}` } });
      };

      await publish(1);
      const first = await source.fetch(10, 1000);
      expect(first.map((m) => m.data[0])).toEqual([1]);
      first[0]!.ack();
      await nc.flush();

      // The link goes silent while a pull waits; the server answers it with a message the worker never sees.
      // A 3-s pull, stalled once the server holds it (so the message goes into the silence, not to a later pull).
      const pull = source.fetch(10, 3000);
      await waitUntil('the pull waiting at the server', 10_000, async () =>
        (await s.jsm.consumers.info(work.stream, workConsumerName(work, 0))).num_waiting > 0 ? true : undefined,
      );
      proxy.stall();
      await publish(2);
      const during = await pull;
      expect(during).toEqual([]);
      proxy.heal();

      // The message comes back to a later pull once its ack wait (1 s) has passed, and is acknowledged there.
      let again: { data: number; deliveries: number }[] = [];
      const deadline = Date.now() + 20_000;
      while (again.length === 0 && Date.now() < deadline) {
        const ms = await source.fetch(10, 1000);
        again = ms.map((m) => ({ data: m.data[0]!, deliveries: m.info.deliveryCount }));
        for (const m of ms) m.ack();
      }
      // Delivered again: its first delivery (and any while the pull lived on at the server) went into the silence.
      expect(again).toHaveLength(1);
      expect(again[0]!.data).toBe(2);
      expect(again[0]!.deliveries).toBeGreaterThanOrEqual(2);
      await nc.flush();
      const info = await s.jsm.consumers.info(work.stream, workConsumerName(work, 0));
      expect(info.num_ack_pending).toBe(0);
    } finally {
      await nc.close().catch(() => undefined);
      await proxy.close();
    }
  });
});
