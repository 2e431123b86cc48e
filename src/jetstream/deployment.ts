/**
 * Everything one deployment (one prefix) keeps on the NATS servers, by name: the work and results streams, the lease
 * and worker buckets, the state object store. For tests and the demo, which run under a prefix of their own on a
 * shared server and must leave nothing behind.
 */
import { jetstreamManager, JetStreamApiError } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { subjects } from './messages.js';

/** The JetStream streams of deployment `prefix` (KV buckets are streams `KV_<bucket>`, object stores `OBJ_<bucket>`). */
export function deploymentStreams(prefix: string): string[] {
  const n = subjects(prefix);
  return [
    `${prefix}_work`,
    n.resultsStream,
    `KV_${n.leasesBucket}`,
    `KV_${n.workersBucket}`,
    `OBJ_${n.stateBucket}`,
  ];
}

/** Deletes every stream of deployment `prefix`; those already absent are skipped. Returns the ones deleted. */
export async function removeDeployment(nc: NatsConnection, prefix: string): Promise<string[]> {
  const jsm = await jetstreamManager(nc);
  const gone: string[] = [];
  for (const name of deploymentStreams(prefix)) {
    try {
      if (await jsm.streams.delete(name)) gone.push(name);
    } catch (err) {
      // 10059: stream not found.
      if (!(err instanceof JetStreamApiError && err.code === 10059)) throw err;
    }
  }
  return gone;
}
