/**
 * Entry point of the enclave process. The host forks it and talks to it over the IPC pipe; what crosses
 * is only ciphertexts, batch descriptors, quotes and aggregate counts. The same file is what Gramine-SGX
 * would load (docs/gramine/).
 *
 * Two modes, chosen at init: embedded (EnclaveCore: all patients' state sealed in the data directory) and cluster
 * (ClusterCore, for JetStream workers: state per partition, handed to the host as sealed checkpoint pieces; keys
 * from the cluster secrets, which the enclave bootstraps or is provisioned with).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { HrvaultError } from '../errors.js';
import { failpoint } from '../failpoints/index.js';
import { EnclaveCore, type BatchFile, type EnrolledGateway, type ResultAck } from './core.js';
import type { KeyPolicy } from './keyring.js';
import { computeMeasurement } from './measurement.js';
import { ClusterProvisioning } from './cluster-provisioning.js';
import { batchFileSchema, ClusterCore, resultAckSchema, type PartitionChain } from './partition-core.js';
import { lockStateDir } from './state-lock.js';

type Request =
  | { id: number; op: 'init'; dataDir: string; platformKeyFile: string; enrolledGateways: EnrolledGateway[]; keyPolicy?: KeyPolicy; cluster?: { partitions: number; trust: ClusterTrust } }
  | { id: number; op: 'quote'; nonce: Uint8Array }
  | { id: number; op: 'batch'; files: BatchFile[]; written?: ResultAck[] }
  | { id: number; op: 'bootstrap-cluster' }
  | { id: number; op: 'provision-request' }
  | { id: number; op: 'provision-accept'; response: unknown }
  | { id: number; op: 'provision-answer'; request: unknown }
  | { id: number; op: 'open-partition'; partition: number; chain: PartitionChain }
  | { id: number; op: 'process-partition'; partition: number; files: BatchFile[]; written?: ResultAck[] }
  | { id: number; op: 'close-partition'; partition: number }
  | { id: number; op: 'close' };

/** Whose quotes a cluster-mode enclave accepts when the secrets are handed over (sent raw over IPC: bytes as arrays). */
type ClusterTrust = { platformPublicKeys: Uint8Array[]; allowedMeasurements: string[]; allowSoftwareQuotes: boolean };

let core: EnclaveCore | undefined;
let cluster: ClusterCore | undefined;
let provisioning: ClusterProvisioning | undefined;

/** The cluster-mode core, or a refusal naming the mode this enclave was started in. */
function clusterCore(): ClusterCore {
  if (cluster) return cluster;
  throw new HrvaultError('HRV_ERR_ENCLAVE', core ? 'this enclave runs in embedded mode, not cluster mode' : 'enclave not initialised');
}

const partitionCallSchema = z.object({ partition: z.number().int().min(0), files: z.array(batchFileSchema), written: z.array(resultAckSchema).optional() });
/** The provisioning half of cluster mode, or a refusal naming the mode. */
function clusterProvisioning(): ClusterProvisioning {
  clusterCore();
  return provisioning!;
}

/** Validates what the host sent for an op (the host is untrusted); HRV_ERR_VALIDATION names the first bad field. */
function parseArgs<S extends z.ZodType>(op: string, schema: S, value: unknown): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new HrvaultError('HRV_ERR_VALIDATION', `${op}: ${issue?.path.join('.') || '(request)'}: ${issue?.message ?? 'invalid'}`, { cause: r.error });
}

/** What init and the cluster ops answer in cluster mode: whether the secrets are held, and then the public keys. */
function clusterInfo(c: ClusterCore): Record<string, unknown> {
  return { clusterReady: c.ready, measurement: c.measurement, ...(c.ready ? c.keys : {}) };
}

function reply(id: number, body: Record<string, unknown>): void {
  process.send?.({ id, ...body });
}

function handle(msg: Request): void {
  try {
    switch (msg.op) {
      case 'init': {
        const seed = readFileSync(msg.platformKeyFile);
        if (seed.length !== 32) throw new HrvaultError('HRV_ERR_CONFIG', `platform key ${msg.platformKeyFile} must be a 32-byte Ed25519 seed`);
        // Before anything is read: an enclave of a host that died alone may still be appending to this state.
        lockStateDir(msg.dataDir);
        const enrolledGateways = msg.enrolledGateways.map((g) => ({ id: g.id, signingPublicKey: new Uint8Array(g.signingPublicKey), hpkePublicKey: new Uint8Array(g.hpkePublicKey) }));
        if (msg.cluster) {
          // No SealedStateStore here: patient state lives in the host's JetStream, as sealed pieces per partition.
          cluster = new ClusterCore({ dataDir: msg.dataDir, platformPrivateKey: new Uint8Array(seed), measurement: computeMeasurement(), enrolledGateways, partitions: msg.cluster.partitions });
          const t = msg.cluster.trust;
          provisioning = new ClusterProvisioning(cluster, new Uint8Array(seed), {
            platformPublicKeys: t.platformPublicKeys.map((k) => new Uint8Array(k)),
            allowedMeasurements: t.allowedMeasurements,
            allowSoftwareQuotes: t.allowSoftwareQuotes,
          });
          reply(msg.id, { ok: true, value: clusterInfo(cluster) });
          return;
        }
        core = new EnclaveCore({
          dataDir: msg.dataDir,
          platformPrivateKey: new Uint8Array(seed),
          measurement: computeMeasurement(),
          enrolledGateways,
          ...(msg.keyPolicy === undefined ? {} : { keyPolicy: msg.keyPolicy }),
        });
        reply(msg.id, { ok: true, value: { publicKey: core.publicKey, signingPublicKey: core.signingPublicKey, keyId: core.keyId, measurement: core.measurement } });
        return;
      }
      case 'quote': {
        const q = core ?? cluster;
        if (!q) throw new HrvaultError('HRV_ERR_ENCLAVE', 'enclave not initialised');
        reply(msg.id, { ok: true, value: q.quote(new Uint8Array(msg.nonce)) });
        return;
      }
      case 'bootstrap-cluster': {
        const c = clusterCore();
        c.bootstrap();
        reply(msg.id, { ok: true, value: clusterInfo(c) });
        return;
      }
      // The secrets never cross this boundary in the clear: only the attested, sealed hand-over of provisioning.ts.
      case 'provision-request':
        reply(msg.id, { ok: true, value: clusterProvisioning().request() });
        return;
      case 'provision-accept': {
        clusterProvisioning().accept(msg.response);
        reply(msg.id, { ok: true, value: clusterInfo(clusterCore()) });
        return;
      }
      case 'provision-answer':
        reply(msg.id, { ok: true, value: clusterProvisioning().answer(msg.request) });
        return;
      case 'open-partition':
        reply(msg.id, { ok: true, value: clusterCore().openPartition(msg.partition, msg.chain) });
        return;
      case 'process-partition': {
        const c = clusterCore();
        const a = parseArgs(msg.op, partitionCallSchema, msg);
        failpoint('enclave.before-batch');
        reply(msg.id, { ok: true, value: c.processPartition(a.partition, a.files, a.written ?? []) });
        return;
      }
      case 'close-partition':
        reply(msg.id, { ok: true, value: clusterCore().closePartition(msg.partition) });
        return;
      case 'batch':
        if (cluster) throw new HrvaultError('HRV_ERR_ENCLAVE', 'this enclave runs in cluster mode: files are handed in per partition (process-partition)');
        if (!core) throw new HrvaultError('HRV_ERR_ENCLAVE', 'enclave not initialised');
        failpoint('enclave.before-batch');
        reply(msg.id, { ok: true, value: core.processBatch(msg.files, msg.written ?? []) });
        return;
      case 'close':
        reply(msg.id, { ok: true, value: null });
        process.disconnect?.();
        return;
    }
  } catch (err) {
    // Only the code and message cross to the host; they never contain plaintext.
    reply(msg.id, { ok: false, error: { code: err instanceof HrvaultError ? err.code : 'HRV_ERR_ENCLAVE', message: err instanceof Error ? err.message : String(err) } });
    // A failed state write leaves memory ahead of the disk: exit, and the host's supervisor restarts us from what is durable.
    if (core?.broken) process.exit(70);
  }
}

if (!process.send) {
  process.stderr.write('hrvault enclave: must be started by the host over an IPC channel (hrvault cloud / hrvault demo)\n');
  process.exit(2);
}
process.on('message', (m) => handle(m as Request));
process.on('disconnect', () => process.exit(0));
// The host owns this process's shutdown: Ctrl-C at a terminal, or a SIGTERM sent to the whole process group, would
// otherwise stop the enclave in the middle of a micro-batch while the host still waits for its answer. The host drains,
// then closes us over IPC; if the host dies, the IPC channel closes and we exit ('disconnect' above). A hung enclave
// is killed by the host's watchdog with SIGKILL, which no handler can refuse.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
