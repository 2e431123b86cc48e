/**
 * A worker's enclave in cluster mode, holding the cluster secrets before the worker takes any partition:
 * loaded from its own sealed copy after a restart; otherwise provisioned by a running worker over NATS
 * (`<prefix>.provision`, request/reply relayed by the untrusted hosts; src/enclave/provisioning.ts); and only when
 * no worker has ever held them, made here, by the one worker that claimed the cluster's bootstrap.
 *
 * The claim is a lease (src/jetstream/lease.ts) on a reserved key whose committed value names the claimant before it
 * bootstraps. Once written it is never cleared, so a second bootstrap (two key rings in one cluster: files sealed to
 * one would not open on workers holding the other) cannot happen even if the claimant dies right after its claim; the
 * cost is that a claimant that dies before it bootstrapped, and never comes back, leaves the cluster waiting until an
 * operator deletes the claim (docs/deploy.md).
 */
import type { Logger } from 'pino';
import type { HrvaultConfig } from '../config.js';
import type { GatewayPublicKeys } from '../contracts/index.js';
import {
  computeMeasurement,
  ensurePlatformKey,
  spawnEnclave,
  type ClusterEnclaveClient,
} from '../enclave/index.js';
import { HrvaultError } from '../errors.js';
import { openLeaseBucket, PartitionLeases, subjects, type WorkOptionsInput } from '../jetstream/index.js';
import type { WorkerOptionsInput } from '../worker/index.js';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';

/** The lease key that records the cluster's bootstrap claim (beyond every partition number). */
export const BOOTSTRAP_CLAIM = 1 << 20;

/** The work stream options of a validated config. */
export function workOptionsOf(cfg: HrvaultConfig): WorkOptionsInput {
  const j = cfg.jetstream;
  return {
    prefix: j.prefix,
    partitions: j.partitions,
    replicas: j.replicas,
    duplicateWindowMs: j.duplicateWindowMs,
    maxAgeMs: j.maxAgeMs,
    maxBytes: j.maxBytes,
    maxAckPending: j.maxAckPending,
    ackWaitMs: j.ackWaitMs,
  };
}

/** `startWorker`'s options from a validated config (`id`: this worker's, default host-pid-random). */
export function workerOptionsOf(cfg: HrvaultConfig, id?: string): WorkerOptionsInput {
  return {
    work: workOptionsOf(cfg),
    ...(id === undefined ? {} : { id }),
    leaseTtlMs: cfg.jetstream.leaseTtlMs,
    maxBatch: cfg.worker.maxBatch,
    fetchMs: cfg.worker.fetchMs,
    reorderHoldMs: cfg.worker.reorderHoldMs,
  };
}

/**
 * The results stream options of a validated config: as replicated as the work stream, with the same duplicate window
 * and limits. Hosts and workers both create the stream (idempotently), so both must pass the same settings. The
 * host's consumer of it gets the work consumers' ack wait (a result sent into a pull that ended comes back after it).
 */
export function resultsOptionsOf(cfg: HrvaultConfig): {
  replicas: number;
  duplicateWindowMs: number;
  maxAgeMs: number;
  maxBytes: number;
  ackWaitMs: number;
} {
  const j = cfg.jetstream;
  return {
    replicas: j.replicas,
    duplicateWindowMs: j.duplicateWindowMs,
    maxAgeMs: j.maxAgeMs,
    maxBytes: j.maxBytes,
    ackWaitMs: j.ackWaitMs,
  };
}

export interface ClusterEnclave extends ClusterEnclaveClient {
  /** Stops answering other workers' provisioning requests (before close). */
  stopAnswering(): void;
}

/** Spawns this worker's enclave in cluster mode and returns it once it holds the cluster secrets. */
export async function clusterEnclave(o: {
  cfg: HrvaultConfig;
  nc: NatsConnection;
  dataDir: string;
  platformKeyFile: string;
  gateways: GatewayPublicKeys[];
  logger: Logger;
  /** Give up waiting for the secrets after this long (ms; default: never). */
  waitMs?: number;
}): Promise<ClusterEnclave> {
  const { cfg, nc, logger } = o;
  const log = logger.child({ component: 'enclave-supervisor' });
  const names = subjects(cfg.jetstream.prefix);
  const enclave = await spawnEnclave({
    dataDir: o.dataDir,
    platformKeyFile: o.platformKeyFile,
    callTimeoutMs: cfg.cloud.enclaveCallTimeoutMs,
    enrolledGateways: o.gateways.map((g) => ({
      id: g.id,
      signingPublicKey: Buffer.from(g.signing_public_key, 'hex'),
      hpkePublicKey: Buffer.from(g.hpke_public_key, 'hex'),
    })),
    cluster: {
      partitions: cfg.jetstream.partitions,
      // Workers trust the platform they run on (in software mode: the platform key file they share) and this build.
      trust: {
        platformPublicKeys: [ensurePlatformKey(o.platformKeyFile)],
        allowedMeasurements: [computeMeasurement()],
        allowSoftwareQuotes: cfg.pipeline.deployment !== 'production',
      },
    },
    log: (level, msg, fields) => log[level](fields ?? {}, msg),
  });
  try {
    if (!enclave.clusterReady) await obtainSecrets(enclave, nc, cfg, logger, o.waitMs);
  } catch (err) {
    await enclave.close();
    throw err;
  }
  const answering: Subscription = nc.subscribe(names.provision, {
    queue: `${cfg.jetstream.prefix}-workers`,
    callback: (err, msg) => {
      if (err) return;
      let request: unknown;
      try {
        request = JSON.parse(new TextDecoder().decode(msg.data));
      } catch {
        msg.respond(
          JSON.stringify({
            error: { code: 'HRV_ERR_PROVISION_MALFORMED', message: 'provisioning request is not JSON' },
          }),
        );
        return;
      }
      enclave.provisionAnswer(request).then(
        (response) => {
          logger.info({}, 'cluster secrets handed to an attested worker');
          msg.respond(JSON.stringify(response));
        },
        (e: unknown) => {
          logger.warn({ error: e instanceof Error ? e.message : String(e) }, 'provisioning request refused');
          msg.respond(
            JSON.stringify({
              error: {
                code: e instanceof HrvaultError ? e.code : 'HRV_ERR_ENCLAVE',
                message: e instanceof Error ? e.message : String(e),
              },
            }),
          );
        },
      );
    },
  });
  return Object.assign(enclave, { stopAnswering: () => answering.unsubscribe() });
}

/** Provisioning from a running worker, or the bootstrap when this worker wins the claim and nobody holds secrets. */
async function obtainSecrets(
  enclave: ClusterEnclaveClient,
  nc: NatsConnection,
  cfg: HrvaultConfig,
  logger: Logger,
  waitMs?: number,
): Promise<void> {
  const names = subjects(cfg.jetstream.prefix);
  const bucket = await openLeaseBucket(nc, { bucket: names.leasesBucket, replicas: cfg.jetstream.replicas });
  const leases = new PartitionLeases(bucket, {
    worker: `bootstrap-${process.pid}-${Date.now()}`,
    ttlMs: cfg.jetstream.leaseTtlMs,
  });
  const deadline = waitMs === undefined ? Infinity : Date.now() + waitMs;
  let lastSaid = 0;
  for (let attempt = 0; ; attempt++) {
    const request = await enclave.provisionRequest();
    let reply: unknown;
    try {
      const m = await nc.request(names.provision, JSON.stringify(request), { timeout: 5000 });
      reply = JSON.parse(new TextDecoder().decode(m.data));
    } catch {
      reply = undefined; // no worker answered (none holds the secrets yet, or none runs)
    }
    if (reply !== undefined && typeof reply === 'object' && reply !== null && !('error' in reply)) {
      await enclave.provisionAccept(reply);
      logger.info({ key_id: enclave.keyId }, 'cluster secrets provisioned by a running worker');
      return;
    }
    if (reply !== undefined) logger.warn({ answer: reply }, 'provisioning refused by a worker; asking again');
    // Nobody answered: bootstrap if no worker ever claimed it.
    const claim = await leases.read(BOOTSTRAP_CLAIM);
    if (claim?.value.commit === undefined && (claim === null || leases.expired(claim.value))) {
      const lease = await leases.acquire(BOOTSTRAP_CLAIM);
      if (lease && lease.commit === undefined) {
        await leases.fencedCommit(lease, () =>
          Promise.resolve({ commit: `claimed by ${leases.worker}`, result: undefined }),
        );
        await enclave.bootstrapCluster();
        logger.info(
          { key_id: enclave.keyId },
          'cluster secrets created: this worker bootstrapped the cluster',
        );
        return;
      }
    }
    if (Date.now() > deadline)
      throw new HrvaultError(
        'HRV_ERR_ENCLAVE',
        'no running worker handed over the cluster secrets in time (and the cluster was bootstrapped before)',
      );
    if (Date.now() - lastSaid > 10_000) {
      lastSaid = Date.now();
      logger.warn(
        { attempt, claim: claim?.value.commit },
        'waiting for a running worker that holds the cluster secrets',
      );
    }
    // Paced: a reply wait above already took up to 5 s when nobody answered.
    await new Promise((r) => setTimeout(r, 500));
  }
}
