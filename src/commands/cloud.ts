/**
 * `hrvault cloud` runs the untrusted host for a real deployment: SFTP ingress, encrypted store, micro-batch
 * scheduler, and (secure mode) the enclave as its child process. Gateways are enrolled from the JSON that
 * `hrvault gateway --print-keys` prints (`--gateway-keys FILE…`). `hrvault enclave` prints what a gateway
 * pins: the enclave code measurement and the platform attestation key.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { z } from 'zod';
import { startCloud } from '../cloud/index.js';
import { computeMeasurement, ensurePlatformKey, spawnEnclave, type EnclaveClient } from '../enclave/index.js';
import { ConfigError } from '../errors.js';
import { num } from './sensor.js';
import { ensurePortFree, isAddressInUse, portInUseError, stopOnSignal } from './lifecycle.js';

const hex32 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 32 bytes of lowercase hex');
const gatewayKeysSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  ssh_public_key: z.string().min(1),
  signing_public_key: hex32,
  hpke_public_key: hex32,
});

/** Reads the enrolment files an operator collected from `hrvault gateway --print-keys`. */
export function readGatewayKeys(files: string[]): z.infer<typeof gatewayKeysSchema>[] {
  return files.map((f) => {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(f, 'utf8'));
    } catch (err) {
      throw new ConfigError(`gateway keys ${f}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
    const r = gatewayKeysSchema.safeParse(json);
    if (!r.success)
      throw new ConfigError(
        `gateway keys ${f}: ${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message}`,
      );
    return r.data;
  });
}

export function registerCloudCommands(program: Command): void {
  program
    .command('cloud')
    .description(
      'run the cloud host: SFTP ingress, micro-batch scheduler, enclave child process (secure mode)',
    )
    .requiredOption(
      '--gateway-keys <file...>',
      'enrolment JSON of each gateway (from `hrvault gateway --print-keys`)',
    )
    .option('--data-dir <dir>', 'host directory (cloud/) ', 'hrvault-data/cloud')
    .option('--enclave-dir <dir>', "enclave's sealed state and the platform key", 'hrvault-data/enclave')
    .option('--host <addr>', 'SFTP listen address', '127.0.0.1')
    .option('--port <n>', 'SFTP port', num, 2222)
    .option('--batch-interval <s>', 'seconds between micro-batches', num, 10)
    .option('--mode <mode>', 'secure | plain', 'secure')
    .option('--max-upload-bytes <n>', 'largest upload accepted', num, 4 * 1024 * 1024)
    .action(
      async (o: {
        gatewayKeys: string[];
        dataDir: string;
        enclaveDir: string;
        host: string;
        port: number;
        batchInterval: number;
        mode: string;
        maxUploadBytes: number;
      }) => {
        if (o.mode !== 'secure' && o.mode !== 'plain')
          throw new ConfigError(`--mode must be secure or plain, not "${o.mode}"`);
        if (!(o.batchInterval >= 0.1)) throw new ConfigError('--batch-interval must be at least 0.1 s');
        const gws = readGatewayKeys(o.gatewayKeys);
        // Before the enclave is spawned, so a taken port fails fast and leaves no child behind.
        await ensurePortFree('--port', o.port, o.host);
        const logger = pino({ level: process.env.HRVAULT_LOG_LEVEL ?? 'info' }, pino.destination(2));
        let enclave: EnclaveClient | undefined;
        if (o.mode === 'secure') {
          enclave = await spawnEnclave({
            dataDir: resolve(o.enclaveDir),
            platformKeyFile: join(resolve(o.enclaveDir), 'platform.key'),
            enrolledGateways: gws.map((g) => ({
              id: g.id,
              signingPublicKey: Buffer.from(g.signing_public_key, 'hex'),
              hpkePublicKey: Buffer.from(g.hpke_public_key, 'hex'),
            })),
          });
        }
        const cloud = await startCloud({
          dataDir: resolve(o.dataDir),
          host: o.host,
          port: o.port,
          gateways: gws.map((g) => ({ id: g.id, sshPublicKey: g.ssh_public_key })),
          batchIntervalMs: Math.round(o.batchInterval * 1000),
          mode: o.mode,
          ...(enclave === undefined ? {} : { enclave }),
          maxUploadBytes: o.maxUploadBytes,
          log: (level, msg, fields) => logger[level](fields ?? {}, msg),
        }).catch(async (err: unknown) => {
          // The enclave child would keep the process alive: stop it before reporting.
          await enclave?.close();
          throw isAddressInUse(err) ? portInUseError('--port', o.port, o.host, err) : err;
        });
        const signals = stopOnSignal();
        logger.info({ port: cloud.port, host_key: cloud.hostKeyFingerprint, mode: o.mode }, 'cloud running');
        try {
          await signals.stopped;
          await cloud.stop();
          await enclave?.close();
        } finally {
          signals.dispose();
        }
        const s = cloud.stats();
        process.stdout.write(
          `${JSON.stringify({ files: s.files, batches: s.batches, beats_analysed: s.beats_analysed, rejected_files: s.rejected_files.length })}\n`,
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
