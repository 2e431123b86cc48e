/**
 * The results stream against the standalone nats-server on 127.0.0.1:4222 (skipped with a printed reason where
 * none answers or it has no JetStream): duplicate results and refusals dropped, headers round-trip and are
 * validated on read, a bad message is refused with HRV_ERR_CONTRACT without stopping the ones behind it. Every
 * test makes its own streams under a prefix of this run's own and deletes them at the end.
 */
import { randomBytes } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { startFaultProxy } from '../test-support/fault-proxy.js';
import { waitUntil } from '../test-support/nats-cluster.js';
import {
  H_GATEWAY,
  H_PATIENT,
  H_RESULT,
  H_SEQ,
  H_TOKEN,
  ensureResultsStream,
  fetchResults,
  parseResultsOptions,
  publishRefusal,
  publishResult,
  resultsConsumer,
  subjects,
  type ResultsOptions,
  type ResultsOptionsInput,
} from './index.js';
import { NATS_URL, standaloneSkipReason, useStandalone } from './test-support/standalone.js';

const skipReason = await standaloneSkipReason();

const RUN = `r${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

describe.skipIf(skipReason !== null)('the results stream on a JetStream server', () => {
  const nats = useStandalone();
  const streams = nats.streams;
  let n = 0;

  async function fresh(extra: Partial<ResultsOptionsInput> = {}): Promise<ResultsOptions> {
    const o = parseResultsOptions({ prefix: `${RUN}-${n++}`, replicas: 1, ...extra });
    streams.push(o.stream);
    await ensureResultsStream(nats.jsm, o);
    await resultsConsumer(nats.jsm, o);
    return o;
  }

  const stored = async (o: ResultsOptions): Promise<number> =>
    (await nats.jsm.streams.info(o.stream)).state.messages;
  const result = (seq: number) => ({
    gateway: 'gw-1',
    result: `p1-${seq}.result`,
    patient: 'p1',
    seq,
    token: 3,
    bytes: new Uint8Array([1, 2, seq]),
  });

  it('drops a result or a refusal published again within the duplicate window', async () => {
    const o = await fresh();
    const first = await publishResult(nats.js, o, result(1));
    expect(first.duplicate).toBe(false);
    expect(await publishResult(nats.js, o, result(1))).toEqual({ seq: first.seq, duplicate: true });
    const refusal = {
      gateway: 'gw-1',
      file: 'p1-9.rrb',
      code: 'HRV_ERR_ENVELOPE_SIGNATURE' as const,
      reason: 'bad signature',
      token: 3,
    };
    expect((await publishRefusal(nats.js, o, refusal)).duplicate).toBe(false);
    expect((await publishRefusal(nats.js, o, { ...refusal, reason: 'again' })).duplicate).toBe(true);
    expect(await stored(o)).toBe(2);
  });

  it('a pull over a link gone silent ends without failing; a result sent into the silence comes back after the ack wait', async () => {
    const o = await fresh({ ackWaitMs: 1000 });
    const proxy = await startFaultProxy(Number(NATS_URL.split(':')[1]));
    const nc = await connect({ servers: `127.0.0.1:${proxy.port}`, timeout: 2000 });
    try {
      const c = await jetstream(nc).consumers.get(o.stream, o.durable);
      // A 3-s pull, stalled once the server holds it (so the result goes into the silence, not to a later pull).
      const pull = fetchResults(c, o.prefix, { max: 10, expiresMs: 3000 });
      await waitUntil('the pull waiting at the server', 10_000, async () =>
        (await nats.jsm.consumers.info(o.stream, o.durable)).num_waiting > 0 ? true : undefined,
      );
      proxy.stall();
      await publishResult(nats.js, o, result(1));
      // nats.js ends the pull with "heartbeats missed" (before: thrown, and the host's loop paused and started over).
      expect(await pull).toEqual({ good: [], bad: [] });
      proxy.heal();
      let seqs: { seq: number; deliveries: number }[] = [];
      const deadline = Date.now() + 20_000;
      while (seqs.length === 0 && Date.now() < deadline) {
        const b = await fetchResults(c, o.prefix, { max: 10, expiresMs: 1000 });
        seqs = b.good.map((g) => ({ seq: g.message.kind === 'result' ? g.message.headers.seq : -1, deliveries: g.msg.info.deliveryCount }));
        for (const g of b.good) g.msg.ack();
      }
      // Delivered again: its first delivery (and any while the pull lived on at the server) went into the silence.
      expect(seqs).toHaveLength(1);
      expect(seqs[0]!.seq).toBe(1);
      expect(seqs[0]!.deliveries).toBeGreaterThanOrEqual(2);
    } finally {
      await nc.close().catch(() => undefined);
      await proxy.close();
    }
  });

  it('round-trips the headers on the gateway subject and removes a message once the host acknowledges it', async () => {
    const o = await fresh();
    await publishResult(nats.js, o, result(7));
    await publishRefusal(nats.js, o, {
      gateway: 'gw-2',
      file: 'p2-1.rrb',
      code: 'HRV_ERR_SEQUENCE_REPLAY',
      reason: 'replay',
      token: 4,
    });
    const c = await nats.js.consumers.get(o.stream, o.durable);
    const batch = await fetchResults(c, o.prefix, { max: 10, expiresMs: 2000 });
    expect(batch.bad).toEqual([]);
    expect(batch.good.map((g) => g.msg.subject)).toEqual([
      subjects(o.prefix).results('gw-1'),
      subjects(o.prefix).refusals('gw-2'),
    ]);
    const [r, f] = batch.good.map((g) => g.message);
    expect(r).toEqual({
      kind: 'result',
      headers: { gateway: 'gw-1', result: 'p1-7.result', patient: 'p1', seq: 7, token: 3 },
      bytes: Buffer.from([1, 2, 7]),
    });
    expect(f).toEqual({
      kind: 'refusal',
      refusal: {
        gateway: 'gw-2',
        file: 'p2-1.rrb',
        code: 'HRV_ERR_SEQUENCE_REPLAY',
        reason: 'replay',
        token: 4,
      },
    });
    expect(await stored(o)).toBe(2);
    for (const g of batch.good) await g.msg.ackAck();
    expect(await stored(o)).toBe(0);
  });

  it('refuses a message with a bad header with HRV_ERR_CONTRACT and goes on with the ones behind it', async () => {
    const o = await fresh();
    const bad = headers();
    bad.set(H_GATEWAY, 'gw-1');
    bad.set(H_RESULT, '../escape');
    bad.set(H_PATIENT, 'p1');
    bad.set(H_SEQ, '1');
    bad.set(H_TOKEN, '3');
    await nats.js.publish(subjects(o.prefix).results('gw-1'), new Uint8Array([1]), { headers: bad });
    // A result whose header names another gateway than its subject, and a refusal that is not JSON.
    const other = headers();
    for (const [k, v] of [
      [H_GATEWAY, 'gw-2'],
      [H_RESULT, 'p1-2.result'],
      [H_PATIENT, 'p1'],
      [H_SEQ, '2'],
      [H_TOKEN, '3'],
    ] as const)
      other.set(k, v);
    await nats.js.publish(subjects(o.prefix).results('gw-1'), new Uint8Array([1]), { headers: other });
    await nats.js.publish(subjects(o.prefix).refusals('gw-1'), 'not json');
    await publishResult(nats.js, o, result(3));
    // The publisher validates too: a bad header never leaves a worker.
    await expect(publishResult(nats.js, o, { ...result(4), seq: -1 })).rejects.toMatchObject({
      code: 'HRV_ERR_CONTRACT',
    });

    const c = await nats.js.consumers.get(o.stream, o.durable);
    const batch = await fetchResults(c, o.prefix, { max: 10, expiresMs: 2000 });
    expect(batch.bad.map((b) => b.error.code)).toEqual([
      'HRV_ERR_CONTRACT',
      'HRV_ERR_CONTRACT',
      'HRV_ERR_CONTRACT',
    ]);
    expect(batch.bad[0]!.error.message).toMatch(/result: /);
    expect(batch.bad[1]!.error.message).toMatch(/gw-2/);
    expect(batch.good.map((g) => g.message.kind === 'result' && g.message.headers.seq)).toEqual([3]);
    // Terminated bad messages leave the work queue like acknowledged ones: nothing is redelivered. (No reason with
    // the term: nats-server 2.9 ignores a `+TERM <reason>` altogether and redelivers the message.)
    for (const b of batch.bad) b.msg.term();
    await batch.good[0]!.msg.ackAck();
    await waitUntil('the stream empty after term and ack', 5000, async () =>
      (await stored(o)) === 0 ? true : undefined,
    );
  });

  it('creates or updates the stream and consumer idempotently, and refuses bad options', async () => {
    const o = await fresh();
    const s = await ensureResultsStream(nats.jsm, { ...o, maxBytes: 1 << 20 });
    expect(s.config).toMatchObject({
      retention: 'workqueue',
      storage: 'file',
      discard: 'new',
      max_bytes: 1 << 20,
      subjects: [`${o.prefix}.results.*`, `${o.prefix}.refusals.*`],
    });
    const c = await resultsConsumer(nats.jsm, { ...o, maxAckPending: 5, ackWaitMs: 2000 });
    expect(c.config).toMatchObject({
      durable_name: `${o.prefix}-host`,
      ack_policy: 'explicit',
      max_ack_pending: 5,
      ack_wait: 2000 * 1_000_000,
    });
    expect(() => parseResultsOptions({ replicas: 1, duplicateWindowMs: 10_000, maxAgeMs: 5000 })).toThrow(
      ConfigError,
    );
    expect(() => parseResultsOptions({ replicas: 1, partitions: 4 })).toThrow(/partitions/);
  });
});
