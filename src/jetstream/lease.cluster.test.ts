/**
 * Partition leases on a real three-node JetStream cluster (R3 bucket): one owner at a time, renewal,
 * takeover after expiry with the old token refused by the store, and a lease that survives the SIGKILL of
 * the node leading the bucket's stream while its owners renew.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  natsServerOrSkip,
  startNatsCluster,
  waitUntil,
  type NatsCluster,
} from '../test-support/nats-cluster.js';
import { HrvaultError } from '../errors.js';
import {
  LeaseLostError,
  PartitionLeases,
  isWrongLastSequence,
  leaseKey,
  openLeaseBucket,
  type Lease,
  type LeaseBucket,
  type PartitionLeasesOptions,
} from './index.js';

const binary = natsServerOrSkip();

describe.skipIf(binary === null)('partition leases on a three-node JetStream cluster', () => {
  let cluster: NatsCluster;
  /** A standalone server: where a race between contenders is decided atomically on any server version. */
  let single: NatsCluster;
  const conns: NatsConnection[] = [];

  beforeAll(async () => {
    [cluster, single] = await Promise.all([
      startNatsCluster({ binary: binary! }),
      startNatsCluster({ binary: binary!, size: 1 }),
    ]);
  }, 60_000);

  afterAll(async () => {
    for (const c of conns) await c.close();
    await Promise.all([cluster?.close(), single?.close()]);
  });

  /** A worker as a separate process would be one: its own connection to any node, its own bucket handle. */
  async function worker(
    bucket: string,
    opts: PartitionLeasesOptions,
    on: 'cluster' | 'single' = 'cluster',
  ): Promise<{ leases: PartitionLeases; bucket: LeaseBucket }> {
    const servers = [...(on === 'cluster' ? cluster : single).urls];
    const nc = await connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    conns.push(nc);
    const b = await openLeaseBucket(nc, {
      bucket,
      replicas: on === 'cluster' ? 3 : 1,
      // A loaded 2-core CI machine can take longer than the default to elect the new bucket's stream leader.
      timeoutMs: 20_000,
    });
    return { leases: new PartitionLeases(b, opts), bucket: b };
  }

  it('opens one new R3 bucket from three connections at once, every time (an unanswered attempt is retried)', async () => {
    // nats-server 2.9.10 answers a create or info request that meets the new stream without a leader with
    // nothing at all; before openLeaseBucket retried, one of three concurrent openers timed out in about a
    // quarter of such rounds.
    const ncs = await Promise.all(
      [0, 1, 2].map(async (k) => {
        const nc = await connect({ servers: [cluster.urls[k]!] });
        conns.push(nc);
        return nc;
      }),
    );
    for (let round = 0; round < 8; round++) {
      const opened = await Promise.all(
        ncs.map((nc) =>
          openLeaseBucket(nc, { bucket: `leases_open_${round}`, replicas: 3, timeoutMs: 15_000 }),
        ),
      );
      expect(opened.map((b) => b.name)).toEqual(Array(3).fill(`leases_open_${round}`));
    }
  });

  // Each round is a real race: the three acquisitions are sent at once from three connections (to three
  // different nodes on the cluster), all expecting the same key revision and stream sequence. 2.9.10 without
  // the stream-wide expectation let more than one of three win in 186 of 300 such rounds (module header).
  const ROUNDS = 100;

  for (const on of ['single', 'cluster'] as const) {
    const where = on === 'single' ? 'standalone server' : 'R3 on the cluster';
    it(`gives a partition to exactly one of three racing contenders, ${ROUNDS} rounds (${where})`, async () => {
      await contendersRace(on);
    });

    it(`lets exactly one of an old owner's commit and a racing takeover win, ${ROUNDS} rounds (${where})`, async () => {
      await commitRacesTakeover(on);
    });
  }

  async function contendersRace(on: 'cluster' | 'single'): Promise<void> {
    const ws = await Promise.all(
      ['a', 'b', 'c'].map((w) =>
        worker(`leases_race_${on}`, { worker: w, ttlMs: 10_000, maxClockSkewMs: 200 }, on),
      ),
    );
    const tokens: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const got = await Promise.all(ws.map((w) => w.leases.acquire(0)));
      const winners = got.filter((l): l is Lease => l !== null);
      expect(winners, `round ${round}`).toHaveLength(1);
      let lease = winners[0]!;
      const holder = ws.find((w) => w.leases.worker === lease.worker)!;
      expect((await holder.leases.read(0))?.revision, `round ${round}`).toBe(lease.token);
      tokens.push(lease.token);
      // Held (every tenth round, to keep the run short): the others keep losing while the holder renews;
      // each renewal moves the token on.
      if (round % 10 === 0) {
        for (let k = 0; k < 2; k++) {
          const renewed = await holder.leases.renew(lease);
          expect(renewed.token).toBeGreaterThan(lease.token);
          expect(renewed.epoch).toBe(lease.epoch);
          lease = renewed;
          for (const w of ws) if (w !== holder) expect(await w.leases.acquire(0)).toBeNull();
        }
      }
      await holder.leases.release(lease);
    }
    // A later owner's token is always larger: revisions are the stream's sequence numbers.
    expect(tokens).toEqual([...tokens].sort((x, y) => x - y));
    expect(new Set(tokens).size).toBe(tokens.length);
  }

  /**
   * Per round a fresh partition: `owner` acquires it and commits while `thief`, whose wall clock runs two
   * minutes ahead (so it judges the owner's lease expired: a paused owner, seen from outside), takes it over.
   * The commit's write and the takeover's write are sent together; exactly one may be stored.
   */
  async function commitRacesTakeover(on: 'cluster' | 'single'): Promise<void> {
    const bucket = `leases_commit_race_${on}`;
    const [owner, thief] = await Promise.all([
      worker(bucket, { worker: 'owner', ttlMs: 60_000, maxClockSkewMs: 100 }, on),
      worker(
        bucket,
        { worker: 'thief', ttlMs: 60_000, maxClockSkewMs: 100, now: () => Date.now() + 120_000 },
        on,
      ),
    ]);
    let commits = 0;
    let takeovers = 0;
    let sequential = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const p = 1000 + round;
      const lo = (await owner.leases.acquire(p))!;
      expect(lo, `round ${round}`).not.toBeNull();
      // The thief starts when the owner's prepare has run, so both final writes leave at about the same time.
      let takeover: Promise<Lease | null> | undefined;
      const committed = owner.leases
        .fencedCommit(lo, async (t) => {
          takeover = thief.leases.acquire(p);
          return { commit: `ckpt-${round}@${t}`, result: t };
        })
        .then(
          (c) => c.lease,
          (e: unknown) => e,
        );
      const [c, stolen] = [await committed, await takeover!];
      const cur = await owner.leases.read(p);
      const mine = `ckpt-${round}@${lo.token}`;
      if (c instanceof LeaseLostError) {
        // The takeover won: it holds the key, and the owner's commit is nowhere.
        expect(stolen, `round ${round}`).not.toBeNull();
        expect(cur, `round ${round}`).toMatchObject({ revision: stolen!.token, value: { worker: 'thief' } });
        expect(cur?.value.commit, `round ${round}`).toBeUndefined();
        takeovers++;
      } else if (stolen === null) {
        // The commit won, and the takeover found the key moved and got nothing.
        expect(c, `round ${round}`).not.toBeInstanceOf(Error);
        expect(cur, `round ${round}`).toMatchObject({
          revision: (c as Lease).token,
          value: { worker: 'owner', commit: mine },
        });
        commits++;
      } else {
        // Both succeeded, which is fine only one after the other: the thief read the key after the commit
        // was stored (its clock calls that lease expired too) and carried the commit on. Two writes from one
        // expected state would leave the thief's lease without the owner's commit.
        expect(c, `round ${round}`).not.toBeInstanceOf(Error);
        expect(stolen.token, `round ${round}`).toBeGreaterThan((c as Lease).token);
        expect(cur, `round ${round}`).toMatchObject({
          revision: stolen.token,
          value: { worker: 'thief', commit: mine },
        });
        sequential++;
      }
    }
    console.log(
      `${on}: of ${ROUNDS} rounds the commit won ${commits}, the takeover ${takeovers}, both in turn ${sequential}`,
    );
    // The race was real: each side won some rounds outright.
    expect(commits).toBeGreaterThan(0);
    expect(takeovers).toBeGreaterThan(0);
  }

  it('keeps the lease while renewed, hands it over after expiry, and refuses the old token', async () => {
    const ttlMs = 1500;
    const skew = 100;
    const a = await worker('leases_expiry', { worker: 'a', ttlMs, maxClockSkewMs: skew });
    const b = await worker('leases_expiry', { worker: 'b', ttlMs, maxClockSkewMs: skew });

    let la = (await a.leases.acquire(1))!;
    expect(la).not.toBeNull();
    const first = la.token;
    // Renewed every TTL/3 for two TTLs: b never gets it although the first lease has long expired.
    const heldSince = performance.now();
    while (performance.now() - heldSince < 2 * ttlMs) {
      await new Promise((r) => setTimeout(r, ttlMs / 3));
      la = await a.leases.renew(la);
      expect(await b.leases.acquire(1)).toBeNull();
    }
    expect(la.token).toBeGreaterThan(first);
    const committed = await a.leases.fencedCommit(la, async (token) => ({
      commit: `ckpt@${token}`,
      result: token,
    }));
    la = committed.lease;
    expect(la.commit).toBe(`ckpt@${committed.result}`);

    // a stops renewing (a paused worker); b takes over only once a's expiry plus the skew allowance passed.
    const lb = await waitUntil('b takes over the expired lease', ttlMs + skew + 10_000, async () => {
      const l = await b.leases.acquire(1);
      return l ?? undefined;
    });
    expect(Date.now()).toBeGreaterThan(la.expiresMs + skew);
    expect(lb.token).toBeGreaterThan(la.token);
    expect(lb.commit).toBe(la.commit); // the next owner resumes from a's last commit

    // a wakes up: its renewal reads the key at b's revision and gives up without writing.
    const renewal = await a.leases.renew(la).catch((e: unknown) => e);
    expect(renewal).toBeInstanceOf(LeaseLostError);
    expect((renewal as LeaseLostError).code).toBe('HRV_ERR_LEASE_LOST');
    expect((renewal as LeaseLostError).message).toContain('taken over');
    await expect(
      a.leases.fencedCommit(la, async () => ({ commit: 'late', result: 0 })),
    ).rejects.toBeInstanceOf(LeaseLostError);
    // And had it written anyway, the store refuses the old token.
    const raw = await a.bucket.kv.update(leaseKey(1), 'late write', la.token).catch((e: unknown) => e);
    expect(isWrongLastSequence(raw)).toBe(true);
    expect((await b.leases.read(1))?.value).toMatchObject({ worker: 'b', commit: la.commit });
  });

  it('refuses a commit whose owner lost the lease while preparing it (paused mid-commit)', async () => {
    const b = await worker('leases_midcommit', { worker: 'b', ttlMs: 60_000, maxClockSkewMs: 100 });
    // c's wall clock runs far ahead, so c judges b's lease expired although b's own clock says it is valid:
    // what a SIGSTOPped b looks like from outside, without stopping this test's process.
    const c = await worker('leases_midcommit', {
      worker: 'c',
      ttlMs: 60_000,
      maxClockSkewMs: 100,
      now: () => Date.now() + 120_000,
    });
    const lb = (await b.leases.acquire(2))!;
    expect(lb).not.toBeNull();
    let lc: Lease | null = null;
    const outcome = await b.leases
      .fencedCommit(lb, async () => {
        lc = await c.leases.acquire(2);
        return { commit: 'ckpt-b', result: 'written' };
      })
      .catch((e: unknown) => e);
    expect(lc).not.toBeNull();
    expect(outcome).toBeInstanceOf(LeaseLostError);
    expect((outcome as LeaseLostError).message).toContain('taken over');
    const cur = await c.leases.read(2);
    expect(cur?.value.worker).toBe('c');
    expect(cur?.value.commit).toBeUndefined();
  });

  it('survives a SIGKILL of the node leading the bucket while owners renew, and still fences', async () => {
    const bucket = 'leases_failover';
    // Longer than a failover takes on a loaded 2-core machine (it took ~20 s there once): the owners must keep
    // their leases through it, so the TTL must outlast it.
    const ttlMs = 60_000;
    const owners = await Promise.all(
      [0, 1, 2].map((p) => worker(bucket, { worker: `w${p}`, ttlMs, maxClockSkewMs: 500 })),
    );
    const contender = await worker(bucket, { worker: 'intruder', ttlMs, maxClockSkewMs: 500 });
    const leases: Lease[] = [];
    for (const [p, o] of owners.entries()) leases.push((await o.leases.acquire(p))!);
    expect(leases.every((l) => l !== null)).toBe(true);

    const admin = await connect({
      servers: [...cluster.urls],
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    conns.push(admin);
    const jsm = await jetstreamManager(admin);
    const before = await jsm.streams.info(`KV_${bucket}`);
    expect(before.config.num_replicas).toBe(3);
    const leader = await cluster.waitForStreamLeader(`KV_${bucket}`);
    const victim = cluster.indexOf(leader);
    expect(victim).toBeGreaterThanOrEqual(0);

    // Owners renew every 300 ms; the contender tries to take every partition all along.
    let running = true;
    const lost: unknown[] = [];
    const intrusions: Lease[] = [];
    // A renewal that times out while the cluster elects a new leader is retried, as a worker does while its
    // lease has time left; only a refusal (the lease moved on) counts as lost.
    const renewals = owners.map(async (o, p) => {
      while (running) {
        try {
          leases[p] = await o.leases.renew(leases[p]!);
        } catch (err) {
          if (err instanceof HrvaultError && err.code === 'HRV_ERR_LEASE_LOST') {
            lost.push(err);
            return;
          }
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    });
    const intruding = (async () => {
      while (running) {
        for (let p = 0; p < 3; p++) {
          const l = await contender.leases.acquire(p).catch(() => null);
          if (l !== null) intrusions.push(l);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();

    const preKill = leases.map((l) => l.token);
    const killedAt = performance.now();
    await cluster.kill(victim);
    try {
      // A new stream leader among the two nodes left, and every owner renewed through it. The election takes
      // 4-9 s here (a follower campaigns after nats-server's 4-9 s Raft election timeout); the deadline allows
      // for a few split votes on a loaded machine, and its error carries the nodes' log tails.
      const next = await cluster.waitForStreamLeader(`KV_${bucket}`, { not: leader, timeoutMs: 45_000 });
      expect(cluster.running(cluster.indexOf(next))).toBe(true);
      const electedMs = Math.round(performance.now() - killedAt);
      // Each renewal's reads and write time out after 2 s and are retried, so the owners follow the new
      // leader within a few seconds.
      await waitUntil('every owner renewed after the new leader was elected', 30_000, async () =>
        leases.every((l, p) => l.token > preKill[p]!) || lost.length > 0 ? true : undefined,
      ).catch((err: unknown) => {
        throw new Error(
          `${(err as Error).message}\n${cluster.nodes.map((n, k) => `--- ${n.name}:\n${cluster.logTail(k).slice(-1500)}`).join('\n')}`,
          { cause: err },
        );
      });
      console.log(
        `failover: ${leader} killed, ${next} leads after ${electedMs} ms, every owner renewed after ${Math.round(performance.now() - killedAt)} ms`,
      );
    } finally {
      running = false;
      await Promise.all([...renewals, intruding]);
    }

    expect(lost).toEqual([]);
    expect(intrusions).toEqual([]);
    for (const [p, o] of owners.entries()) {
      const cur = await o.leases.read(p);
      expect(cur?.revision).toBe(leases[p]!.token);
      expect(cur?.value.worker).toBe(`w${p}`);
      // Fencing still holds on the new leader: the token from before the failover is refused.
      const stale = await o.bucket.kv.update(leaseKey(p), 'stale', preKill[p]!).catch((e: unknown) => e);
      expect(isWrongLastSequence(stale)).toBe(true);
      const c = await o.leases.fencedCommit(leases[p]!, async (t) => ({
        commit: `after-failover@${t}`,
        result: t,
      }));
      expect(c.lease.token).toBeGreaterThan(leases[p]!.token);
    }
  });
});
