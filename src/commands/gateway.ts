/**
 * `hrvault gateway`: the edge gateway for a real deployment. Keys are created on first start in
 * `<data-dir>/keys/keys.json`; `--print-keys` prints the public halves an operator enrols at the cloud
 * (SSH) and the enclave (signing, HPKE), and the admin registers at the CSP (signing). Verified results go to the
 * CSP at gateway.cspUrl. Runs until SIGINT/SIGTERM, then cuts, uploads what is pending and prints its counters as JSON.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { loadConfig, type ConfigOverrides, type HrvaultConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import { ensureGatewayKeys, softwareQuotePolicy, startGateway, type GatewayHandle, type GatewayResult } from '../gateway/index.js';
import { deviceOfPatient, patientId, readMqttCa } from '../sensor/index.js';
import { num, untilSignal } from './sensor.js';
import type { Logger } from 'pino';

/** The devices a gateway accepts: dev-P<first> … for `patients` patients. */
/** How long SIGTERM/SIGINT may take to drain, ms. */
const DRAIN_MS = 15_000;

export function deviceRegistry(patients: number, first: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < patients; i++) out[deviceOfPatient(patientId(first + i))] = patientId(first + i);
  return out;
}

/**
 * Applies the software-quote policy to a validated config: throws SoftwareQuotesInProductionError for a production
 * configuration without the override, and logs a warning whenever software quotes will be accepted.
 */
export function acceptSoftwareQuotes(cfg: HrvaultConfig, logger: Logger, env: NodeJS.ProcessEnv = process.env): boolean {
  const policy = softwareQuotePolicy({
    allowSoftwareQuotes: cfg.gateway.allowSoftwareQuotes,
    deployment: cfg.pipeline.deployment,
    nodeEnv: env.NODE_ENV,
    overrideInProduction: cfg.gateway.dangerouslyAcceptForgeableSoftwareQuotesInProduction,
  });
  if (policy.warning !== undefined) logger.warn({ attestation_backend: 'software', deployment: cfg.pipeline.deployment, node_env: env.NODE_ENV }, policy.warning);
  return policy.accept;
}

/** Starts a gateway from a validated config (`env`: where NODE_ENV is read). */
export async function gatewayFromConfig(
  cfg: HrvaultConfig,
  logger: Logger,
  onResult?: (r: GatewayResult) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<GatewayHandle> {
  const g = cfg.gateway;
  // First, before any key or connection is made: a refused configuration starts nothing.
  const allowSoftwareQuotes = acceptSoftwareQuotes(cfg, logger, env);
  const keys = ensureGatewayKeys(join(g.dataDir, 'keys'));
  let attestation;
  if (cfg.pipeline.mode === 'secure') {
    if (g.platformPublicKeyFile === '')
      throw new ConfigError('secure mode needs gateway.platformPublicKeyFile (the pinned platform key, hex)');
    if (g.allowedMeasurements.length === 0)
      throw new ConfigError('secure mode needs gateway.allowedMeasurements (enclave measurements to trust)');
    let pk: Buffer;
    try {
      pk = Buffer.from(readFileSync(g.platformPublicKeyFile, 'utf8').trim(), 'hex');
    } catch (err) {
      throw new ConfigError(`gateway.platformPublicKeyFile ${g.platformPublicKeyFile}: cannot read`, {
        cause: err,
      });
    }
    if (pk.length !== 32)
      throw new ConfigError(
        `gateway.platformPublicKeyFile ${g.platformPublicKeyFile}: expected 32 bytes of hex`,
      );
    attestation = {
      platformPublicKey: new Uint8Array(pk),
      allowedMeasurements: g.allowedMeasurements,
      allowSoftwareQuotes,
      maxAgeMs: g.attestationMaxAgeS * 1000,
    };
  }
  return startGateway({
    id: g.id,
    dataDir: join(g.dataDir, 'spool'),
    mqtt: {
      url: cfg.mqtt.url,
      topicPrefix: cfg.mqtt.topicPrefix,
      username: g.mqttUsername,
      password: g.mqttPassword,
      ...(g.mqttClientId === '' ? {} : { clientId: g.mqttClientId }),
      ...(cfg.mqtt.caFile === '' ? {} : { ca: readMqttCa(cfg.mqtt.caFile)! }),
    },
    devices: deviceRegistry(cfg.sensor.patients, cfg.sensor.firstPatient),
    batchIntervalMs: g.batchIntervalMs,
    mode: cfg.pipeline.mode,
    sftp: {
      host: g.sftpHost,
      port: g.sftpPort,
      privateKey: keys.sshPrivateKey,
      ...(g.sftpHostFingerprint === '' ? {} : { hostFingerprint: g.sftpHostFingerprint }),
    },
    ...(attestation === undefined ? {} : { attestation }),
    keys,
    bucketBytes: g.bucketBytes,
    retryMaxMs: g.retryMaxMs,
    maxFutureMs: g.maxClockAheadMs,
    reorderHoldMs: g.reorderHoldMs,
    maxSeqJump: g.maxSeqJump,
    logger,
    ...(onResult === undefined ? {} : { onResult }),
    ...(g.cspUrl === '' ? {} : { csp: { url: g.cspUrl } }),
  });
}

export function registerGatewayCommand(program: Command): void {
  program
    .command('gateway')
    .description('run the edge gateway: MQTT intake, durable spool, sealed SFTP upload, result intake')
    .option('--config <file>', 'JSON config file')
    .option('--id <id>', 'gateway id = SFTP user (HRVAULT_GATEWAY_ID)')
    .option('--data-dir <dir>', 'keys and spool (HRVAULT_GATEWAY_DATA_DIR)')
    .option('--mode <mode>', 'secure | plain (HRVAULT_PIPELINE_MODE)')
    .option('--mqtt-url <url>', 'broker URL (HRVAULT_MQTT_URL)')
    .option('--topic-prefix <prefix>', 'topic prefix (HRVAULT_MQTT_TOPIC_PREFIX)')
    .option('--mqtt-ca-file <file>', 'PEM CA of the broker certificate, for mqtts:// (HRVAULT_MQTT_CA_FILE)')
    .option('--mqtt-username <u>', 'broker user (HRVAULT_GATEWAY_MQTT_USERNAME)')
    .option('--mqtt-password <p>', 'broker password (HRVAULT_GATEWAY_MQTT_PASSWORD)')
    .option('--patients <n>', 'register devices dev-P<first>… for this many patients', num)
    .option('--first-patient <n>', 'number of the first registered patient', num)
    .option('--batch-interval <s>', 'seconds between batch cuts', num)
    .option('--sftp-host <host>', 'cloud SFTP host')
    .option('--sftp-port <port>', 'cloud SFTP port', num)
    .option('--sftp-host-fingerprint <SHA256:base64>', "pin the cloud host key (OpenSSH's SHA256:… form, as `hrvault cloud` prints it)")
    .option('--platform-public-key-file <file>', 'pinned attestation platform key (hex)')
    .option('--allowed-measurement <hex...>', 'enclave measurements to trust')
    .option('--allow-software-quotes', 'accept software-backend quotes (development only; refused when NODE_ENV=production or pipeline.deployment=production)')
    .option('--csp-url <url>', 'CSP base URL that verified results are delivered to (HRVAULT_GATEWAY_CSP_URL)')
    .option('--print-keys', 'print the public keys to enrol and exit')
    .action(async (o: Record<string, unknown>) => {
      const flags: ConfigOverrides = {
        mqtt: { url: o.mqttUrl as string | undefined, topicPrefix: o.topicPrefix as string | undefined, caFile: o.mqttCaFile as string | undefined },
        pipeline: { mode: o.mode as 'secure' | 'plain' | undefined },
        sensor: {
          patients: o.patients as number | undefined,
          firstPatient: o.firstPatient as number | undefined,
        },
        gateway: {
          id: o.id as string | undefined,
          dataDir: o.dataDir as string | undefined,
          mqttUsername: o.mqttUsername as string | undefined,
          mqttPassword: o.mqttPassword as string | undefined,
          batchIntervalMs:
            o.batchInterval === undefined ? undefined : Math.round((o.batchInterval as number) * 1000),
          sftpHost: o.sftpHost as string | undefined,
          sftpPort: o.sftpPort as number | undefined,
          sftpHostFingerprint: o.sftpHostFingerprint as string | undefined,
          platformPublicKeyFile: o.platformPublicKeyFile as string | undefined,
          allowedMeasurements: o.allowedMeasurement as string[] | undefined,
          allowSoftwareQuotes: o.allowSoftwareQuotes === true ? true : undefined,
          cspUrl: o.cspUrl as string | undefined,
        },
      };
      const cfg = loadConfig({ ...(o.config === undefined ? {} : { file: String(o.config) }), flags });
      if (o.printKeys === true) {
        const k = ensureGatewayKeys(join(cfg.gateway.dataDir, 'keys'));
        const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');
        process.stdout.write(
          `${JSON.stringify({ id: cfg.gateway.id, ssh_public_key: k.sshPublicKey, signing_public_key: hex(k.signingPublicKey), hpke_public_key: hex(k.hpkePublicKey) }, null, 2)}\n`,
        );
        return;
      }
      if (cfg.gateway.cspUrl === '')
        throw new ConfigError(
          'gateway.cspUrl is not set (--csp-url or HRVAULT_GATEWAY_CSP_URL): verified results would reach no one. Register this gateway at the CSP with the signing_public_key from --print-keys.',
        );
      const logger = pino({ level: cfg.log.level }, pino.destination(2));
      const gw = await gatewayFromConfig(cfg, logger, (r) =>
        logger.info({ patient: r.patient, seq: r.seq, alerts: r.body.alerts.map((a) => a.type) }, 'result kept for the CSP'),
      );
      logger.info({ id: cfg.gateway.id, mode: cfg.pipeline.mode }, 'gateway running');
      await untilSignal();
      // Drain within DRAIN_MS: every step is bounded (SFTP operations time out), and whatever is cut short is
      // durable already (pending batches, spool segments, the result outbox) or was never acknowledged.
      const drainEnd = Date.now() + DRAIN_MS;
      await gw.flush(DRAIN_MS / 2);
      // Results not yet acknowledged stay in the durable outbox for the next start; this only shortens the wait.
      await gw.deliverResults(Math.max(0, Math.min(5_000, drainEnd - Date.now() - 2_000)));
      await gw.stop(Math.max(1_000, drainEnd - Date.now()));
      // The drain is over and everything it cut short is durable: end now, whatever socket a dead network left
      // half-open (a SIGTERM must end the gateway within its deadline).
      process.stdout.write(`${JSON.stringify(gw.stats())}\n`, () => process.exit(process.exitCode ?? 0));
    });
}
