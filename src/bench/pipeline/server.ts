/**
 * The benchmark's server: the real cloud host (SFTP ingress, micro-batch scheduler) and, in secure mode, its enclave
 * child process, exactly as `hrvault cloud` runs them, plus the measurements the harness needs: every micro-batch's
 * record, the files still waiting in the inboxes when it ended, and the CPU time and RSS of host and enclave.
 * JetStream mode (`jetstream` in the config): the host alone, publishing to the work stream; the waiting files then
 * include the work stream's unacknowledged messages, and the harness runs the workers (worker-main.ts).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { areaDir, isTempName, startCloud, type BatchRecord, type CloudHandle } from '../../cloud/index.js';
import { MAX_ENVELOPE_BYTES } from '../../crypto/index.js';
import { computeMeasurement, ensurePlatformKey, spawnEnclave, type EnclaveClient } from '../../enclave/index.js';
import { resultsOptionsOf, workOptionsOf } from '../../commands/index.js';
import { loadConfig } from '../../config.js';
import { connectNats } from '../../jetstream/index.js';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { selfUsage, UsageTracker } from './proc-usage.js';
import { BATCH_PHASES, batchPhasesSchema, type BatchSample, type ServerConfig, type ServerFinal, type ServerReady } from './protocol.js';

export interface BenchServer {
  ready: ServerReady;
  /** Stops host and enclave and returns everything measured. */
  stop(): Promise<ServerFinal>;
}

const POLL_MS = 200;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Starts host (and enclave) for `cfg`; `onBatch` hears each micro-batch within POLL_MS of its end. */
export async function startBenchServer(
  cfg: ServerConfig,
  onBatch: (b: BatchSample) => void = () => undefined,
): Promise<BenchServer> {
  const t0 = performance.now();
  let enclave: EnclaveClient | undefined;
  let platformPublicKey: Uint8Array | undefined;
  let nc: NatsConnection | undefined;
  const js = cfg.jetstream;
  if (js) {
    // JetStream mode: no enclave here. The workers (forked by the harness) share this platform key file, so that a
    // gateway's attestation, answered by whichever worker, verifies against the one pinned key.
    platformPublicKey = ensurePlatformKey(join(cfg.dataDir, 'platform.key'));
    nc = await connectNats({ url: js.url, name: `hrvault-bench-host-${process.pid}`, tlsCaFile: '', tlsCertFile: '', tlsKeyFile: '' });
  } else if (cfg.mode === 'secure') {
    const platformKeyFile = join(cfg.dataDir, 'enclave', 'platform.key');
    platformPublicKey = ensurePlatformKey(platformKeyFile);
    enclave = await spawnEnclave({
      dataDir: join(cfg.dataDir, 'enclave'),
      platformKeyFile,
      enrolledGateways: cfg.gateways.map((g) => ({
        id: g.id,
        signingPublicKey: Buffer.from(g.signingPublicKey, 'hex'),
        hpkePublicKey: Buffer.from(g.hpkePublicKey, 'hex'),
      })),
      ...(cfg.enclaveNodeArgs ? { nodeArgs: cfg.enclaveNodeArgs } : {}),
    });
  }
  const cloudDir = join(cfg.dataDir, 'cloud');
  let cloud: CloudHandle;
  try {
    cloud = await startCloud({
      dataDir: cloudDir,
      host: cfg.host,
      port: cfg.port,
      gateways: cfg.gateways.map((g) => ({ id: g.id, sshPublicKey: g.sshPublicKey })),
      batchIntervalMs: cfg.batchIntervalMs,
      mode: cfg.mode,
      ...(enclave ? { enclave } : {}),
      ...(js && nc ? { jetstream: { nc, ...deployedJetstreamOptions(js) } } : {}),
      // One connection per benchmark gateway, all from one address: the defaults (16 per address) are for real gateways.
      sftpLimits: {
        maxConnectionsPerAddress: cfg.gateways.length + 8,
        maxConnections: cfg.gateways.length + 16,
      },
      maxUploadBytes: MAX_ENVELOPE_BYTES,
    });
  } catch (err) {
    await enclave?.close();
    await nc?.close();
    throw err;
  }
  const jsm = nc ? await jetstreamManager(nc) : undefined;
  /** JetStream mode: work messages stored and not yet acknowledged by a worker (work-queue retention removes them then). */
  const queued = async (): Promise<number> => (jsm && js ? (await jsm.streams.info(`${js.prefix}_work`)).state.messages : 0);
  const enclaveUsage = new UsageTracker();
  enclaveUsage.sample(enclave?.pid);
  const samples: BatchSample[] = [];
  let seen = 0;
  const waiting = async (): Promise<number> => {
    let n = 0;
    for (const g of cfg.gateways)
      n += (await readdir(areaDir(cloudDir, g.id, 'inbox')).catch(() => [])).filter(
        (f) => !isTempName(f),
      ).length;
    return n;
  };
  const collect = async (): Promise<void> => {
    const recs: BatchRecord[] = cloud.stats().records.slice(seen);
    if (recs.length === 0) return;
    seen += recs.length;
    const end = (await waiting()) + (await queued().catch(() => 0));
    for (const r of recs) {
      const s: BatchSample = {
        batch: r.batch,
        started_ms: r.started_ms,
        files: r.files,
        accepted: r.accepted,
        rejected: r.rejected,
        failed: r.failed,
        ms: r.ms,
        backlog_start: r.backlog,
        backlog_end: end,
        phases_ms: batchPhasesSchema.parse(Object.fromEntries(BATCH_PHASES.map((k) => [k, r.phases_ms[k]]))),
      };
      samples.push(s);
      onBatch(s);
    }
  };
  let polling: Promise<void> | undefined;
  const timer = setInterval(() => {
    enclaveUsage.sample(enclave?.pid);
    polling ??= collect()
      .catch(() => undefined)
      .finally(() => (polling = undefined));
  }, POLL_MS);
  // CPU is counted from here: start-up (module loading, key generation, the enclave's first unseal) is not the load.
  const hostBase = selfUsage().cpu_ms;
  const enclaveBase = enclaveUsage.total()?.cpu_ms ?? 0;
  const ready: ServerReady = {
    type: 'ready',
    mode: cfg.mode,
    port: cloud.port,
    hostFingerprint: cloud.hostKeyFingerprint,
    attestation:
      enclave && platformPublicKey
        ? { platformPublicKey: hex(platformPublicKey), measurement: enclave.measurement }
        : js && platformPublicKey
          ? { platformPublicKey: hex(platformPublicKey), measurement: computeMeasurement() }
          : null,
    batchIntervalMs: cfg.batchIntervalMs,
  };
  let stopping: Promise<ServerFinal> | undefined;
  const stop = async (): Promise<ServerFinal> => {
    clearInterval(timer);
    await polling;
    await cloud.stop();
    await collect();
    enclaveUsage.sample(enclave?.pid);
    const st = cloud.stats();
    const host = selfUsage();
    const enc = enclaveUsage.total();
    await enclave?.close();
    // The harness removes the deployment's streams (it also does when this process died); the connection is ours.
    await nc?.drain().catch(() => undefined);
    return {
      type: 'final',
      batches: samples,
      skipped_ticks: st.skipped_ticks,
      rejected_files: st.rejected_files.length,
      host: { ...host, cpu_ms: host.cpu_ms - hostBase },
      enclave: enc ? { ...enc, cpu_ms: enc.cpu_ms - enclaveBase } : null,
      wall_ms: performance.now() - t0,
    };
  };
  return { ready, stop: () => (stopping ??= stop()) };
}

/**
 * The host's stream and consumer settings as `hrvault cloud --jetstream` takes them from its config, with the point's
 * deployment (prefix, partitions, one replica) as flags: the environment (HRVAULT_JETSTREAM_*) sets the rest, as it
 * does for the point's workers.
 */
function deployedJetstreamOptions(js: { url: string; prefix: string; partitions: number }): {
  work: ReturnType<typeof workOptionsOf>;
  results: ReturnType<typeof resultsOptionsOf>;
} {
  const cfg = loadConfig({ flags: { jetstream: { url: js.url, prefix: js.prefix, partitions: js.partitions, replicas: 1 } } });
  return { work: workOptionsOf(cfg), results: resultsOptionsOf(cfg) };
}
