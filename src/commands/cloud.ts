/**
 * `hrvault cloud` runs the untrusted host for a real deployment: SFTP ingress, encrypted store, micro-batch
 * scheduler, and (secure mode) the enclave as its child process. Gateways are enrolled from the JSON that
 * `hrvault gateway --print-keys` prints (`--gateway-keys FILE…`). `hrvault enclave` prints what a gateway
 * pins: the enclave code measurement and the platform attestation key.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { pino, type Logger } from 'pino';
import { gatewayPublicKeysSchema, type GatewayPublicKeys } from '../contracts/index.js';
import { loadConfig, type HrvaultConfig } from '../config.js';
import { startCloud, type CloudHandle } from '../cloud/index.js';
import { computeMeasurement, ensurePlatformKey, spawnEnclave, type EnclaveClient } from '../enclave/index.js';
import { ConfigError } from '../errors.js';
import { connectNats } from '../jetstream/index.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { resultsOptionsOf, workOptionsOf } from './worker-enclave.js';
import { num } from './sensor.js';
import { ensurePortFree, isAddressInUse, portInUseError, stopOnSignal } from './lifecycle.js';

/** Reads the enrolment files an operator collected from `hrvault gateway --print-keys`. */
export function readGatewayKeys(files: string[]): GatewayPublicKeys[] {
  return files.map((f) => {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(f, 'utf8'));
    } catch (err) {
      throw new ConfigError(`gateway keys ${f}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
    const r = gatewayPublicKeysSchema.safeParse(json);
    if (!r.success)
      throw new ConfigError(
        `gateway keys ${f}: ${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message}`,
      );
    return r.data;
  });
}

/** The cloud host and (secure mode) its supervised enclave child, started from a validated config. */
export async function cloudFromConfig(
  cfg: HrvaultConfig,
  logger: Logger,
  gateways: GatewayPublicKeys[],
): Promise<{ cloud: CloudHandle; enclave: EnclaveClient | undefined; nats?: NatsConnection }> {
  const c = cfg.cloud;
  const enclaveDir = resolve(cfg.enclave.dataDir);
  let enclave: EnclaveClient | undefined;
  // JetStream mode: no enclave here; the workers (`hrvault worker`) analyse what this host publishes.
  const nats =
    cfg.jetstream.url === ''
      ? undefined
      : await connectNats({
          url: cfg.jetstream.url,
          name: `hrvault-cloud-${process.pid}`,
          tlsCaFile: cfg.jetstream.tlsCaFile,
          tlsCertFile: cfg.jetstream.tlsCertFile,
          tlsKeyFile: cfg.jetstream.tlsKeyFile,
        });
  if (cfg.pipeline.mode === 'secure' && nats === undefined) {
    const enclaveLog = logger.child({ component: 'enclave-supervisor' });
    // The client supervises its process: watchdog on every call, restart after an exit, kill or hang.
    enclave = await spawnEnclave({
      callTimeoutMs: c.enclaveCallTimeoutMs,
      keyPolicy: { rotationMs: c.enclaveKeyRotationS * 1000, retentionMs: c.enclaveKeyRetentionS * 1000 },
      log: (level, msg, fields) => enclaveLog[level](fields ?? {}, msg),
      dataDir: enclaveDir,
      platformKeyFile: join(enclaveDir, 'platform.key'),
      enrolledGateways: gateways.map((g) => ({
        id: g.id,
        signingPublicKey: Buffer.from(g.signing_public_key, 'hex'),
        hpkePublicKey: Buffer.from(g.hpke_public_key, 'hex'),
      })),
    });
  }
  const cloudLog = logger.child({ component: 'cloud' });
  const cloud = await startCloud({
    dataDir: resolve(c.dataDir),
    host: c.host,
    port: c.sftpPort,
    ...(c.hostKeyFile === '' ? {} : { hostKeyFile: c.hostKeyFile }),
    gateways: gateways.map((g) => ({ id: g.id, sshPublicKey: g.ssh_public_key })),
    batchIntervalMs: c.batchIntervalMs,
    mode: cfg.pipeline.mode,
    ...(enclave === undefined ? {} : { enclave }),
    ...(nats === undefined
      ? {}
      : { jetstream: { nc: nats, work: workOptionsOf(cfg), results: resultsOptionsOf(cfg) } }),
    maxUploadBytes: c.maxUploadBytes,
    sftpLimits: {
      maxHandlesPerSession: c.sftpMaxHandlesPerSession,
      maxSessionsPerGateway: c.sftpMaxSessionsPerGateway,
      maxConnectionsPerAddress: c.sftpMaxConnectionsPerAddress,
      maxConnections: c.sftpMaxConnections,
      authTimeoutMs: c.sftpAuthTimeoutMs,
      idleTimeoutMs: c.sftpIdleTimeoutMs,
    },
    retention: {
      tempRetentionMs: c.tempRetentionS * 1000,
      quarantineRetentionMs: c.quarantineRetentionS * 1000,
      sweepIntervalMs: c.retentionSweepIntervalS * 1000,
    },
    log: (level, msg, fields) => cloudLog[level](fields ?? {}, msg),
  }).catch(async (err: unknown) => {
    // The enclave child (or the NATS connection) would keep the process alive: stop it before reporting.
    await enclave?.close();
    await nats?.close();
    throw err;
  });
  return { cloud, enclave, ...(nats === undefined ? {} : { nats }) };
}

export function registerCloudCommands(program: Command): void {
  program
    .command('cloud')
    .description(
      'run the cloud host: SFTP ingress, micro-batch scheduler, enclave child process (secure mode)',
    )
    .option('--config <file>', 'JSON config file (sections cloud, enclave, pipeline, log)')
    .option(
      '--gateway-keys <file...>',
      'enrolment JSON of each gateway, from `hrvault gateway --print-keys` (HRVAULT_CLOUD_GATEWAY_KEYS_FILES)',
    )
    .option('--data-dir <dir>', 'host directory (HRVAULT_CLOUD_DATA_DIR)')
    .option('--enclave-dir <dir>', "enclave's sealed state and the platform key (HRVAULT_ENCLAVE_DATA_DIR)")
    .option('--host <addr>', 'SFTP listen address (HRVAULT_CLOUD_HOST)')
    .option('--port <n>', 'SFTP port (HRVAULT_CLOUD_SFTP_PORT)', num)
    .option(
      '--batch-interval <s>',
      'seconds between micro-batches (HRVAULT_CLOUD_BATCH_INTERVAL_MS in ms)',
      num,
    )
    .option('--mode <mode>', 'secure | plain (HRVAULT_PIPELINE_MODE)')
    .option('--max-upload-bytes <n>', 'largest upload accepted (HRVAULT_CLOUD_MAX_UPLOAD_BYTES)', num)
    .option(
      '--jetstream <urls>',
      'JetStream mode: NATS server URLs, comma-separated; the enclave workers (`hrvault worker`) analyse (HRVAULT_JETSTREAM_URL)',
    )
    .option(
      '--enclave-call-timeout <s>',
      'watchdog: seconds before an unanswered enclave call counts as hung and the enclave is restarted (HRVAULT_CLOUD_ENCLAVE_CALL_TIMEOUT_MS in ms)',
      num,
    )
    .action(
      async (o: {
        config?: string;
        gatewayKeys?: string[];
        dataDir?: string;
        enclaveDir?: string;
        host?: string;
        port?: number;
        batchInterval?: number;
        mode?: 'secure' | 'plain';
        maxUploadBytes?: number;
        enclaveCallTimeout?: number;
        jetstream?: string;
      }) => {
        const cfg = loadConfig({
          ...(o.config === undefined ? {} : { file: o.config }),
          flags: {
            cloud: {
              gatewayKeysFiles: o.gatewayKeys,
              dataDir: o.dataDir,
              host: o.host,
              sftpPort: o.port,
              batchIntervalMs: o.batchInterval === undefined ? undefined : Math.round(o.batchInterval * 1000),
              maxUploadBytes: o.maxUploadBytes,
              enclaveCallTimeoutMs:
                o.enclaveCallTimeout === undefined ? undefined : Math.round(o.enclaveCallTimeout * 1000),
            },
            enclave: { dataDir: o.enclaveDir },
            pipeline: { mode: o.mode },
            jetstream: { url: o.jetstream },
          },
        });
        const c = cfg.cloud;
        const mode = cfg.pipeline.mode;
        if (c.gatewayKeysFiles.length === 0)
          throw new ConfigError(
            'cloud.gatewayKeysFiles is empty (--gateway-keys FILE… or HRVAULT_CLOUD_GATEWAY_KEYS_FILES): no gateway could log in',
          );
        const gws = readGatewayKeys(c.gatewayKeysFiles);
        // Before the enclave is spawned, so a taken port fails fast and leaves no child behind.
        await ensurePortFree('--port', c.sftpPort, c.host);
        const logger = pino({ level: cfg.log.level }, pino.destination(2));
        const { cloud, enclave, nats } = await cloudFromConfig(cfg, logger, gws).catch((err: unknown) => {
          throw isAddressInUse(err) ? portInUseError('--port', c.sftpPort, c.host, err) : err;
        });
        const signals = stopOnSignal();
        logger.info({ port: cloud.port, host_key: cloud.hostKeyFingerprint, mode }, 'cloud running');
        try {
          await signals.stopped;
          await cloud.stop();
          await enclave?.close();
          await nats?.drain();
        } finally {
          signals.dispose();
        }
        const s = cloud.stats();
        process.stdout.write(
          `${JSON.stringify({ files: s.files, batches: s.batches, beats_analysed: s.beats_analysed, rejected_files: s.rejected_files.length, failed_files: s.failed_files, enclave_restarts: s.enclave_restarts })}\n`,
        );
      },
    );

  program
    .command('enclave')
    .description(
      'print what a gateway pins for this enclave build: code measurement and platform attestation key',
    )
    .option('--enclave-dir <dir>', "enclave's sealed state and the platform key", 'hrvault-data/enclave')
    .action((o: { enclaveDir: string }) => {
      const dir = resolve(o.enclaveDir);
      const pub = Buffer.from(ensurePlatformKey(join(dir, 'platform.key'))).toString('hex');
      writeFileSync(join(dir, 'platform.pub'), `${pub}\n`);
      process.stdout.write(
        `${JSON.stringify({ measurement: computeMeasurement(), platform_public_key: pub, platform_public_key_file: join(dir, 'platform.pub') }, null, 2)}\n`,
      );
    });
}
