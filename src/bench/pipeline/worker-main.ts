/**
 * Entry point of one JetStream worker of a benchmark point (issue 11): the harness forks it (pinned to the workers'
 * cores), sends `{op: 'start', config}`, hears `ready` once its cluster-mode enclave child holds the cluster secrets
 * and it takes partitions, and `final` (its totals, its own and its enclave's CPU) after `{op: 'stop'}`. It is what
 * `hrvault worker` runs, with the settings of the point instead of a config file.
 */
import { pino } from 'pino';
import { loadConfig } from '../../config.js';
import { connectNats } from '../../jetstream/index.js';
import { startWorker, type WorkerHandle } from '../../worker/index.js';
import { clusterEnclave, workerOptionsOf, type ClusterEnclave } from '../../commands/index.js';
import { send, sendFlushed } from './ipc.js';
import { selfUsage, UsageTracker } from './proc-usage.js';
import { workerConfigSchema, type WorkerFinal } from './protocol.js';
import type { NatsConnection } from '@nats-io/transport-node';

type Msg = { op: 'start'; config: unknown } | { op: 'stop' };

let running:
  | {
      nc: NatsConnection;
      enclave: ClusterEnclave;
      worker: WorkerHandle;
      usage: UsageTracker;
      selfBase: number;
      enclaveBase: number;
    }
  | undefined;
let stopping: Promise<WorkerFinal | undefined> | undefined;

async function start(raw: unknown): Promise<void> {
  const c = workerConfigSchema.parse(raw);
  // The point's settings as flags; the environment (HRVAULT_JETSTREAM_*, HRVAULT_WORKER_*) still sets the rest.
  const cfg = loadConfig({
    flags: {
      jetstream: { url: c.url, prefix: c.prefix, partitions: c.partitions, replicas: 1 },
      worker: { dataDir: c.dataDir, fetchMs: c.fetchMs },
      log: { level: 'warn' },
    },
  });
  const logger = pino({ level: cfg.log.level, base: { worker: c.index } }, pino.destination(2));
  const nc = await connectNats({
    url: cfg.jetstream.url,
    name: `hrvault-bench-worker-${c.index}`,
    tlsCaFile: '',
    tlsCertFile: '',
    tlsKeyFile: '',
  });
  const enclave = await clusterEnclave({
    cfg,
    nc,
    dataDir: c.dataDir,
    platformKeyFile: c.platformKeyFile,
    gateways: c.gateways.map((g) => ({
      id: g.id,
      ssh_public_key: g.sshPublicKey,
      signing_public_key: g.signingPublicKey,
      hpke_public_key: g.hpkePublicKey,
    })),
    logger,
    waitMs: 60_000,
  });
  const worker = await startWorker(
    nc,
    enclave,
    workerOptionsOf(cfg, `${c.prefix}-w${c.index}`),
    (level, msg, fields) => logger[level](fields ?? {}, msg),
  );
  const usage = new UsageTracker();
  usage.sample(enclave.pid);
  // CPU is counted from here: start-up (module loading, the enclave's spawn, bootstrap or provisioning) is not the load.
  running = {
    nc,
    enclave,
    worker,
    usage,
    selfBase: selfUsage().cpu_ms,
    enclaveBase: usage.total()?.cpu_ms ?? 0,
  };
  setInterval(() => usage.sample(enclave.pid), 1000).unref();
  send({ type: 'ready', pid: process.pid, enclave_pid: enclave.pid });
}

async function stop(): Promise<WorkerFinal | undefined> {
  if (!running) return undefined;
  const { nc, enclave, worker, usage } = running;
  // Sampled before the worker closes its enclave: a process gone from /proc has no figures.
  usage.sample(enclave.pid);
  enclave.stopAnswering();
  await worker.stop();
  await nc.drain().catch(() => undefined);
  const s = worker.stats();
  const self = selfUsage();
  const enc = usage.total();
  return {
    type: 'final',
    batches: s.batches,
    files: s.files,
    results: s.results,
    refusals: s.refusals,
    runners_started: s.runners_started,
    leases_lost: s.leases_lost,
    self: { ...self, cpu_ms: self.cpu_ms - running.selfBase },
    enclave: enc ? { ...enc, cpu_ms: enc.cpu_ms - running.enclaveBase } : null,
  };
}

async function handle(msg: Msg): Promise<void> {
  if (msg.op === 'start') await start(msg.config);
  else {
    const final = await (stopping ??= stop());
    await sendFlushed(final ?? { type: 'error', message: 'stop before start' });
    process.disconnect?.();
    process.exit(0);
  }
}

if (!process.send) {
  process.stderr.write('bench worker: must be started by the harness over an IPC channel (hrvault bench)\n');
  process.exit(2);
}
process.on('message', (m) => {
  handle(m as Msg).catch(async (err: unknown) => {
    process.exitCode = 1;
    await sendFlushed({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    process.disconnect?.();
    process.exit(1);
  });
});
process.on('disconnect', () => {
  // The harness went away: leave no enclave behind.
  void (stopping ??= stop()).finally(() => process.exit(process.exitCode ?? 0));
});
