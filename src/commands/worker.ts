/**
 * `hrvault worker`: one enclave worker of JetStream mode (issue 11). Its enclave child runs in cluster mode (state
 * per partition, the cluster's secrets); the worker host connects to NATS, takes its share of the partitions and
 * runs them until SIGTERM, when it finishes its micro-batches and gives its leases up.
 */
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { loadConfig } from '../config.js';
import { computeMeasurement, ensurePlatformKey } from '../enclave/index.js';
import { ConfigError } from '../errors.js';
import { closeNats, connectNats } from '../jetstream/index.js';
import { startWorker } from '../worker/index.js';
import { readGatewayKeys } from './cloud.js';
import { stopOnSignal } from './lifecycle.js';
import { num } from './sensor.js';
import { clusterEnclave, workerOptionsOf } from './worker-enclave.js';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description(
      'run one enclave worker of JetStream mode: takes its share of the partitions, analyses them in its enclave, publishes sealed results',
    )
    .option('--config <file>', 'JSON config file (sections jetstream, worker, cloud, enclave, pipeline, log)')
    .option('--jetstream <urls>', 'NATS server URLs, comma-separated (HRVAULT_JETSTREAM_URL)')
    .option(
      '--gateway-keys <file...>',
      'enrolment JSON of each gateway, from `hrvault gateway --print-keys` (HRVAULT_CLOUD_GATEWAY_KEYS_FILES)',
    )
    .option('--data-dir <dir>', "this worker's enclave directory (HRVAULT_WORKER_DATA_DIR)")
    .option('--partitions <n>', 'partitions of the deployment (HRVAULT_JETSTREAM_PARTITIONS)', num)
    .option(
      '--replicas <n>',
      'replicas of streams and buckets: 3 on a cluster (HRVAULT_JETSTREAM_REPLICAS)',
      num,
    )
    .action(
      async (o: {
        config?: string;
        jetstream?: string;
        gatewayKeys?: string[];
        dataDir?: string;
        partitions?: number;
        replicas?: number;
      }) => {
        const cfg = loadConfig({
          ...(o.config === undefined ? {} : { file: o.config }),
          flags: {
            jetstream: { url: o.jetstream, partitions: o.partitions, replicas: o.replicas },
            worker: { dataDir: o.dataDir },
            cloud: { gatewayKeysFiles: o.gatewayKeys },
          },
        });
        if (cfg.jetstream.url === '')
          throw new ConfigError(
            'jetstream.url is empty (--jetstream nats://… or HRVAULT_JETSTREAM_URL): a worker needs NATS',
          );
        if (cfg.cloud.gatewayKeysFiles.length === 0)
          throw new ConfigError(
            'cloud.gatewayKeysFiles is empty (--gateway-keys FILE…): the enclave could verify no gateway',
          );
        const gateways = readGatewayKeys(cfg.cloud.gatewayKeysFiles);
        const logger = pino({ level: cfg.log.level }, pino.destination(2));
        const dir = resolve(cfg.worker.dataDir);
        const platformKeyFile =
          cfg.enclave.platformKeyFile === ''
            ? join(dir, 'platform.key')
            : resolve(cfg.enclave.platformKeyFile);
        ensurePlatformKey(platformKeyFile);
        const nc = await connectNats({
          url: cfg.jetstream.url,
          name: `hrvault-worker-${process.pid}`,
          tlsCaFile: cfg.jetstream.tlsCaFile,
          tlsCertFile: cfg.jetstream.tlsCertFile,
          tlsKeyFile: cfg.jetstream.tlsKeyFile,
        });
        const signals = stopOnSignal();
        try {
          const enclave = await clusterEnclave({ cfg, nc, dataDir: dir, platformKeyFile, gateways, logger });
          // A start that fails once the enclave child is up must close it, or this process never exits (and a
          // supervisor's restart would wait on the child's lock of the state directory).
          const worker = await startWorker(nc, enclave, workerOptionsOf(cfg), (level, msg, fields) =>
            logger[level](fields ?? {}, msg),
          ).catch(async (err: unknown) => {
            enclave.stopAnswering();
            await enclave.close();
            throw err;
          });
          logger.info({ worker: worker.id, measurement: computeMeasurement() }, 'worker running');
          await signals.stopped;
          enclave.stopAnswering();
          await worker.stop();
          process.stdout.write(`${JSON.stringify({ worker: worker.id, ...worker.stats() })}\n`);
        } finally {
          signals.dispose();
          await closeNats(nc);
        }
      },
    );
}
