/**
 * removeDeployment against the shared nats-server: a deployment's streams, made by the code that makes them in a
 * worker's start (work and results streams, lease and registry buckets, the state stream), are all deleted and none
 * is left; a second removal finds nothing. The demo, the benchmark and the tests rely on it on a shared server.
 */
import { randomBytes } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import {
  deploymentStreams,
  ensureResultsStream,
  ensureWorkStream,
  openLeaseBucket,
  removeDeployment,
  subjects,
} from '../jetstream/index.js';
import { standaloneSkipReason, useStandalone } from '../jetstream/test-support/standalone.js';
import { ensureStateStream } from './checkpoints.js';

const skipReason = await standaloneSkipReason();

describe.skipIf(skipReason !== null)('removeDeployment', () => {
  const nats = useStandalone();

  /** The names of the streams on the server whose name contains `prefix`. */
  async function streamsOf(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for await (const s of nats.jsm.streams.list()) if (s.config.name.includes(prefix)) out.push(s.config.name);
    return out.sort();
  }

  it('deletes every stream a worker creates for its deployment, leaves none, and is idempotent', async () => {
    const prefix = `rmdep_${randomBytes(5).toString('hex')}`;
    const names = subjects(prefix);
    nats.streams.push(...deploymentStreams(prefix));
    await ensureWorkStream(nats.jsm, { prefix, partitions: 2, replicas: 1 });
    await ensureResultsStream(nats.jsm, { prefix, replicas: 1 });
    await openLeaseBucket(nats.nc, { bucket: names.leasesBucket, replicas: 1 });
    await new Kvm(nats.js).create(names.workersBucket, { replicas: 1, history: 1, ttl: 10_000 });
    await ensureStateStream(nats.jsm, { prefix, replicas: 1 });
    expect(await streamsOf(prefix)).toEqual([...deploymentStreams(prefix)].sort());

    expect((await removeDeployment(nats.nc, prefix)).sort()).toEqual([...deploymentStreams(prefix)].sort());
    expect(await streamsOf(prefix)).toEqual([]);
    expect(await removeDeployment(nats.nc, prefix)).toEqual([]);
  });
});
