/**
 * Partition leases against the standalone nats-server on 127.0.0.1:4222 (skipped with a printed reason where
 * none answers or it has no JetStream): every lease write expects the bucket stream's last sequence, so a
 * write to *another* partition between a writer's read and its publish makes the server refuse it. Such a
 * refusal must be retried and succeed; only a write to the writer's own key may end its lease. The server
 * is shared: each test makes its own bucket, named after this run, and deletes it.
 */
import { randomBytes } from 'node:crypto';
import { jetstreamManager, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import type { KV, KvEntry } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LeaseLostError,
  MARKER_KEY,
  PartitionLeases,
  isWrongLastSequence,
  leaseKey,
  openLeaseBucket,
  type LeaseBucket,
} from './index.js';

const NATS_URL = '127.0.0.1:4222';

async function probe(): Promise<string | null> {
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: NATS_URL, timeout: 1000, reconnect: false });
    await (await jetstreamManager(nc, { timeout: 1000 })).getAccountInfo();
    return null;
  } catch (err) {
    return `no nats-server with JetStream at ${NATS_URL} (${(err as Error).message})`;
  } finally {
    await nc?.close();
  }
}

const skipReason = await probe();
if (skipReason !== null) console.log(`skipped: ${skipReason}`);

const RUN = `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

/** What the lease code's publishes came back with, in order. */
type Outcome = 'stored' | 'refused' | 'failed';

/**
 * `bucket` seen through a hook: the first read of a lease key after `arm()` runs `between()` before the
 * read returns (i.e. after the writer read the stream's last sequence and the key, before it publishes), and
 * every publish's outcome is recorded.
 */
function interleaved(bucket: LeaseBucket): {
  bucket: LeaseBucket;
  arm: (between: () => Promise<unknown>) => void;
  outcomes: Outcome[];
} {
  let pending: (() => Promise<unknown>) | undefined;
  const outcomes: Outcome[] = [];
  const kv = new Proxy(bucket.kv, {
    get(target, prop) {
      if (prop === 'get')
        return async (key: string): Promise<KvEntry | null> => {
          const e = await target.get(key);
          const between = pending;
          if (between !== undefined && key.startsWith('partition.')) {
            pending = undefined;
            await between();
          }
          return e;
        };
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as KV;
  const js = new Proxy(bucket.js, {
    get(target, prop) {
      if (prop === 'publish')
        return async (...args: Parameters<JetStreamClient['publish']>): Promise<PubAck> => {
          try {
            const ack = await target.publish(...args);
            outcomes.push('stored');
            return ack;
          } catch (err) {
            outcomes.push(isWrongLastSequence(err) ? 'refused' : 'failed');
            throw err;
          }
        };
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as JetStreamClient;
  return {
    bucket: { ...bucket, kv, js },
    arm: (between) => {
      pending = between;
    },
    outcomes,
  };
}

describe.skipIf(skipReason !== null)('lease writes on a standalone JetStream server', () => {
  let nc: NatsConnection;
  const buckets: string[] = [];
  let n = 0;

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL, timeout: 2000 });
  });

  afterAll(async () => {
    if (nc === undefined) return;
    const jsm = await jetstreamManager(nc);
    for (const b of buckets) await jsm.streams.delete(`KV_${b}`).catch(() => undefined);
    await nc.close();
  });

  async function open(): Promise<LeaseBucket> {
    const name = `${RUN}_leases_${n++}`;
    buckets.push(name);
    return openLeaseBucket(nc, { bucket: name, replicas: 1 });
  }

  it('retries a renewal that another partition’s write beat to the stream sequence, and keeps the lease', async () => {
    const plain = await open();
    const hooked = interleaved(plain);
    const a = new PartitionLeases(hooked.bucket, { worker: 'a', ttlMs: 30_000 });
    const other = new PartitionLeases(plain, { worker: 'other', ttlMs: 30_000 });
    const la = (await a.acquire(0))!;
    expect(la).not.toBeNull();
    // The empty bucket got its marker first, so the stream-wide expectation is never 0.
    expect((await plain.kv.get(MARKER_KEY))?.revision).toBe(1);

    let lo = (await other.acquire(5))!;
    let between: number | undefined;
    hooked.arm(async () => {
      lo = await other.renew(lo);
      between = lo.token;
    });
    hooked.outcomes.length = 0;
    const renewed = await a.renew(la);
    expect(between).toBeGreaterThan(la.token);
    // First publish refused (the stream had moved on to `between`), the retry stored.
    expect(hooked.outcomes).toEqual(['refused', 'stored']);
    expect(renewed.token).toBeGreaterThan(between!);
    expect(renewed.epoch).toBe(la.epoch);
    const cur = await a.read(0);
    expect(cur).toMatchObject({ revision: renewed.token, value: { worker: 'a' } });

    // The same for the commit step of fencedCommit (armed in prepare: after fencedCommit's ownership check).
    hooked.outcomes.length = 0;
    const c = await a.fencedCommit(renewed, async (t) => {
      hooked.arm(async () => {
        lo = await other.renew(lo);
      });
      return { commit: `ckpt@${t}`, result: t };
    });
    expect(c.lease.commit).toBe(`ckpt@${renewed.token}`);
    expect(hooked.outcomes).toEqual(['refused', 'stored']);
    expect((await a.read(0))?.value.commit).toBe(`ckpt@${renewed.token}`);
  });

  it('retries an acquisition that another partition’s write beat, and takes the free partition', async () => {
    const plain = await open();
    const hooked = interleaved(plain);
    const a = new PartitionLeases(hooked.bucket, { worker: 'a', ttlMs: 30_000 });
    const other = new PartitionLeases(plain, { worker: 'other', ttlMs: 30_000 });
    expect(await other.acquire(1)).not.toBeNull();
    hooked.arm(() => other.acquire(2));
    const la = await a.acquire(0);
    expect(hooked.outcomes).toEqual(['refused', 'stored']);
    expect(la).not.toBeNull();
    expect((await a.read(0))?.revision).toBe(la!.token);
  });

  it('ends the lease when the write in between was a takeover of its own partition', async () => {
    const plain = await open();
    const hooked = interleaved(plain);
    const a = new PartitionLeases(hooked.bucket, { worker: 'a', ttlMs: 30_000 });
    // Its wall clock two minutes ahead: it judges a's lease expired (a paused a, seen from outside).
    const thief = new PartitionLeases(plain, {
      worker: 'thief',
      ttlMs: 30_000,
      now: () => Date.now() + 120_000,
    });
    const la = (await a.acquire(0))!;
    let stolen: number | undefined;
    hooked.arm(async () => {
      stolen = (await thief.acquire(0))!.token;
    });
    hooked.outcomes.length = 0;
    const outcome = await a.renew(la).catch((e: unknown) => e);
    expect(stolen).toBeGreaterThan(la.token);
    expect(hooked.outcomes).toEqual(['refused']);
    expect(outcome).toBeInstanceOf(LeaseLostError);
    expect(String((outcome as LeaseLostError).message)).toContain('taken over');
    expect(isWrongLastSequence((outcome as LeaseLostError).cause)).toBe(true);
    expect(await a.read(0)).toMatchObject({ revision: stolen, value: { worker: 'thief' } });
    // The stale token is refused by the store itself too.
    const raw = await plain.kv.update(leaseKey(0), 'late', la.token).catch((e: unknown) => e);
    expect(isWrongLastSequence(raw)).toBe(true);
  });
});
