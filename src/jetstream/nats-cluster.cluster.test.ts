/**
 * The cluster harness itself: three real nats-server processes form one JetStream cluster, keep a meta
 * leader and an R3 stream's data when one of them is SIGKILLed, and take a restarted node back in.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsServerOrSkip, startNatsCluster, waitUntil, type NatsCluster } from '../test-support/nats-cluster.js';

const binary = natsServerOrSkip();

interface Jsz {
  meta_cluster?: { leader?: string; cluster_size?: number };
}

describe.skipIf(binary === null)('a three-node nats-server JetStream cluster on loopback', () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    cluster = await startNatsCluster({ binary: binary! });
    nc = await connect({ servers: [...cluster.urls], maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    jsm = await jetstreamManager(nc);
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await cluster?.close();
  });

  it('starts three healthy nodes that agree on one meta leader of a cluster of three', async () => {
    const leader = await cluster.waitForMetaLeader();
    expect(cluster.nodes.map((n) => n.name)).toContain(leader);
    for (const n of cluster.nodes) {
      const h = await fetch(`http://127.0.0.1:${n.httpPort}/healthz`);
      expect(h.status, n.name).toBe(200);
      const jsz = (await (await fetch(`http://127.0.0.1:${n.httpPort}/jsz`)).json()) as Jsz;
      expect(jsz.meta_cluster, n.name).toMatchObject({ leader, cluster_size: 3 });
    }
    expect(new Set(cluster.urls).size).toBe(3);
  });

  it('keeps a leader and an R3 stream writable when a node is killed, and takes it back on restart', async () => {
    const si = await jsm.streams.add({ name: 'HARNESS', subjects: ['harness.>'], num_replicas: 3 });
    expect(si.config.num_replicas).toBe(3);
    const js = jetstream(nc);
    await js.publish('harness.a', 'before');

    const leader = await cluster.waitForMetaLeader();
    const victim = cluster.indexOf(leader);
    await cluster.kill(victim);
    expect(cluster.running(victim)).toBe(false);

    const next = await cluster.waitForMetaLeader();
    expect(next).not.toBe(leader);
    // The stream elects its own leader among the two left (its quorum) and accepts writes again.
    await waitUntil('a publish to the R3 stream with a node down', 30_000, async () => {
      // The message id makes a retry of a publish whose ack was lost a duplicate the stream drops.
      const ack = await js.publish('harness.a', 'during', { msgID: 'during', timeout: 2000 });
      return ack.seq;
    });

    await cluster.restart(victim);
    expect(cluster.running(victim)).toBe(true);
    // Rejoined: the node is healthy, names the same leader, and is a current replica of the stream again.
    const jsz = (await (
      await fetch(`http://127.0.0.1:${cluster.nodes[victim]!.httpPort}/jsz`)
    ).json()) as Jsz;
    expect(jsz.meta_cluster?.leader).toBe(await cluster.waitForMetaLeader());
    const info = await waitUntil('the restarted node back as a current replica', 30_000, async () => {
      const i = await jsm.streams.info('HARNESS');
      const peers = [
        i.cluster?.leader,
        ...(i.cluster?.replicas ?? []).filter((r) => r.current).map((r) => r.name),
      ].filter((n) => n !== undefined);
      return peers.includes(leader) && peers.length === 3 ? i : undefined;
    });
    expect(info.state.messages).toBe(2);
  });

  it('stops a node cleanly (SIGTERM) and restarts it on the same ports', async () => {
    const leader = await cluster.waitForMetaLeader();
    const other = cluster.nodes.findIndex((n) => n.name !== leader);
    const url = cluster.nodes[other]!.url;
    await cluster.stop(other);
    expect(cluster.running(other)).toBe(false);
    expect(cluster.logTail(other)).toMatch(/exited/);
    await cluster.waitForMetaLeader();
    await cluster.restart(other);
    expect(cluster.nodes[other]!.url).toBe(url);
    const probe = await connect({ servers: url });
    expect(probe.info?.server_name).toBe(cluster.nodes[other]!.name);
    await probe.close();
  });
});
