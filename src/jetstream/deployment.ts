/**
 * Everything one deployment (one prefix) keeps on the NATS servers, by name: the work and results streams, the lease
 * and worker buckets, the state object store. For tests and the demo, which run under a prefix of their own on a
 * shared server and must leave nothing behind.
 */
import { jetstreamManager, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { HrvaultError } from '../errors.js';
import { subjects } from './messages.js';

/** The JetStream streams of deployment `prefix` (KV buckets are streams `KV_<bucket>`). */
export function deploymentStreams(prefix: string): string[] {
  const n = subjects(prefix);
  return [
    `${prefix}_work`,
    n.resultsStream,
    `KV_${n.leasesBucket}`,
    `KV_${n.workersBucket}`,
    n.stateStream,
  ];
}

/**
 * Deletes every stream of deployment `prefix` and checks that none is left; those already absent are skipped. Returns
 * the ones deleted. A stream found again after its deletion (a request of a process that just died, read by the server
 * after ours) is deleted once more; one still there after that is an error naming it.
 */
export async function removeDeployment(nc: NatsConnection, prefix: string): Promise<string[]> {
  const jsm = await jetstreamManager(nc);
  const gone: string[] = [];
  let left = deploymentStreams(prefix);
  for (let round = 0; round < 2 && left.length > 0; round++) {
    for (const name of left) if (await deleteStream(jsm, name)) gone.push(name);
    left = await present(jsm, left);
  }
  if (left.length > 0)
    throw new HrvaultError('HRV_ERR_JETSTREAM_LEFTOVER', `streams ${left.join(', ')} of deployment ${prefix} are still on the server after being deleted twice`);
  return gone;
}

/** Deletes stream `name`; false when it was not there. */
async function deleteStream(jsm: JetStreamManager, name: string): Promise<boolean> {
  try {
    return await jsm.streams.delete(name);
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** The streams of `names` that exist on the server now. */
async function present(jsm: JetStreamManager, names: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const name of names) {
    try {
      await jsm.streams.info(name);
      out.push(name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return out;
}

/** JetStream's "stream not found" (10059). */
function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === 10059;
}
