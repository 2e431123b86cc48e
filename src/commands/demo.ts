/**
 * `hrvault demo`: the whole pipeline on embedded defaults — in-process MQTT broker (or `--mqtt-url`),
 * synthetic sensors, the gateway, the cloud host's SFTP server and micro-batch scheduler on loopback, and
 * (secure mode) the enclave as a child process. Prints one status line per batch interval to stderr and a
 * summary at the end (`--json`: one JSON object on stdout).
 *
 * Time: `--duration` and the sensors' clock are simulated seconds (`--speed` of them per real second);
 * `--batch-interval` is real seconds, the cadence at which the gateway cuts files and the host runs
 * micro-batches.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { pino, type Logger } from 'pino';
import type { CloudHandle } from '../cloud/index.js';
import { computeMeasurement, ensurePlatformKey, type EnclaveClient } from '../enclave/index.js';
import { configSchema, loadConfig, type HrvaultConfig } from '../config.js';
import { ConfigError, HrvaultError } from '../errors.js';
import {
  ensureGatewayKeys,
  startEmbeddedBroker,
  type EmbeddedBroker,
  type GatewayHandle,
  type GatewayResult,
} from '../gateway/index.js';
import {
  devicePassword,
  patientId,
  recordedBeatTimesMs,
  ReplayPatient,
  startSensorFleet,
  syntheticPatients,
  type SensorFleet,
} from '../sensor/index.js';
import { asFileError } from './hrv.js';
import { accessStackFromConfig, dashboardBuilt } from './access.js';
import { createDemoUsers } from '../csp/index.js';
import type { CspService } from '../csp/index.js';
import { readInputText } from './read-input.js';
import { cloudFromConfig } from './cloud.js';
import { closeNats, removeDeployment } from '../jetstream/index.js';
import { startWorker, type WorkerHandle } from '../worker/index.js';
import { clusterEnclave, workerOptionsOf } from './worker-enclave.js';
import { gatewayFromConfig } from './gateway.js';
import { processIo, type CommandIo } from './io.js';
import { num, untilSignal } from './sensor.js';
import { ensurePortFree, isAddressInUse, portInUseError, stopOnSignal } from './lifecycle.js';

export interface DemoOptions {
  patients: number;
  /** Simulated seconds; null = until Ctrl-C (or `stopSignal`). */
  durationS: number | null;
  /** Real seconds between batch cuts / micro-batches. */
  batchIntervalS: number;
  mode: 'secure' | 'plain';
  dataDir?: string;
  mqttUrl?: string;
  /** Start the access stack (API on this port, 0 = ephemeral) and ingest every verified result as a record. */
  access?: { port: number; credentialsFile?: string; paillierBits?: number };
  /** Recorded files replayed as further patients (RR text, or `ecg_*` / `ppg_*` signals through the detectors). */
  replay?: string[];
  speed: number;
  seed?: number;
  json?: boolean;
  /** Log level of the components' pino logs (written to <data-dir>/demo.log). */
  logLevel?: string;
  /** The loader's config (defaults → file → HRVAULT_* → flags) the demo's own settings go on top of; default: loadConfig(). */
  config?: HrvaultConfig;
  /** Resolves to end a run without a fixed duration. */
  stopSignal?: Promise<unknown>;
  /** Called with each verified result at the gateway. */
  onResult?: (r: GatewayResult) => void;
  /** Called once everything runs (tests use it to inject faults). */
  onStarted?: (ctx: DemoContext) => void | Promise<void>;
  /** Called after the drain, before the summary is taken (tests tamper with uploads here). */
  beforeSummary?: (ctx: DemoContext) => void | Promise<void>;
  /** Epoch ms of simulated time zero (default: now). */
  startMs?: number;
  /**
   * JetStream mode: the host publishes to NATS at `url` and `workers` enclave workers (each its own enclave child)
   * share the partitions; streams and buckets get a prefix of this run's own and are deleted at the end.
   */
  jetstream?: { url: string; workers: number };
}

/** The running pieces, for tests that tamper with them. */
export interface DemoContext {
  dataDir: string;
  cloud: CloudHandle;
  gateway: GatewayHandle;
  fleet: SensorFleet;
  enclave: EnclaveClient | undefined;
  /** The access stack's base URL (API under /api/v1), when it runs. */
  apiUrl: string | undefined;
  /** JetStream mode: the enclave workers. */
  workers: WorkerHandle[];
}

/** The summary a run ends with (`--json` keys). */
export interface DemoSummary {
  mode: 'secure' | 'plain';
  patients: number;
  simulated_s: number;
  wall_s: number;
  beats_published: number;
  beats_accepted: number;
  beats_analysed: number;
  duplicates: number;
  redeliveries_dropped: number;
  /** Beats the devices sent that never reached the gateway: gaps in each device's sequence numbers (per boot epoch). */
  lost: number;
  /** Beats the gateway accepted that were never analysed (accepted − analysed; 0 when the pipeline kept everything). */
  not_analysed: number;
  /** Beats quarantined at the gateway for an impossible time (each alone, never its file). */
  quarantined: number;
  files: number;
  batches: number;
  batch_ms_mean: number | null;
  batch_ms_p50: number | null;
  batch_ms_p99: number | null;
  batch_ms_max: number | null;
  results_verified: number;
  results_rejected: number;
  alerts: number;
  rejected_files: number;
  /** Results the CSP acknowledged from the gateway, each stored as an HRV and an RR record (null without the access stack). */
  records_ingested: number | null;
  rejected_reasons: Record<string, number>;
  bad_beats: { malformed: number; impossible: number; unknown_device: number };
  /** JetStream mode: each worker's partitions taken, micro-batches, files, commits and leases lost (null otherwise). */
  workers:
    | {
        id: string;
        runners_started: number;
        batches: number;
        files: number;
        commits: number;
        leases_lost: number;
      }[]
    | null;
  data_dir: string;
}

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

const round = (x: number | null): number | null => (x === null ? null : Math.round(x * 100) / 100);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `done` until it holds, or until `progress` (a counter that grows while work moves) has not changed for `idleMs`. */
async function untilIdle(done: () => boolean, progress: () => number, idleMs: number): Promise<boolean> {
  let last = progress();
  let lastChange = Date.now();
  while (!done()) {
    if (Date.now() - lastChange > idleMs) return false;
    await sleep(25);
    const now = progress();
    if (now !== last) {
      last = now;
      lastChange = Date.now();
    }
  }
  return true;
}

/** Registers the demo gateway as a device at the CSP (idempotent across runs that reuse --data-dir). */
async function registerGatewayDevice(
  csp: CspService,
  id: string,
  signingPublicKey: Uint8Array,
  patients: string[],
): Promise<void> {
  const key = Buffer.from(signingPublicKey).toString('hex');
  try {
    await csp.registerDevice('bootstrap', { id, signing_public_key: key, patients });
  } catch (err) {
    if (!(err instanceof HrvaultError && err.code === 'HRV_ERR_CONFLICT')) throw err;
  }
}

/** The demo's config, validated like any other (a bad file or HRVAULT_* value fails here, naming the key). */
function parseDemoConfig(cfg: HrvaultConfig): HrvaultConfig {
  const r = configSchema.safeParse(cfg);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ConfigError(`demo config ${issue.path.join('.')}: ${issue.message}`);
  }
  return r.data;
}

/** Runs the demo to its end and returns the summary. */
export async function runDemo(opts: DemoOptions, io: CommandIo = processIo): Promise<DemoSummary> {
  const started = performance.now();
  const dataDir = resolve(opts.dataDir ?? mkdtempSync(join(tmpdir(), 'hrvault-demo-')));
  for (const d of ['gateway', 'cloud', 'enclave']) mkdirSync(join(dataDir, d), { recursive: true });
  const logger: Logger = pino(
    { level: opts.logLevel ?? 'info' },
    pino.destination({ dest: join(dataDir, 'demo.log'), sync: false }),
  );
  const runId = randomBytes(4).toString('hex');
  const gatewayId = 'gw1';
  const topicPrefix = `hrvault/v1/${runId}`;
  const batchIntervalMs = Math.round(opts.batchIntervalS * 1000);
  const patients = syntheticPatients(opts.patients, opts.seed ?? 1);
  const replays: ReplayPatient[] = [];
  for (const [i, file] of (opts.replay ?? []).entries()) {
    const text = await readInputText(file);
    let beats: Float64Array;
    try {
      beats = recordedBeatTimesMs(text, file);
    } catch (err) {
      throw asFileError(file, err);
    }
    replays.push(new ReplayPatient(patientId(opts.patients + 1 + i), beats));
  }
  const totalPatients = opts.patients + replays.length;
  const deviceSecret = randomBytes(16).toString('hex');
  const gatewayPassword = randomBytes(16).toString('hex');
  const keys = ensureGatewayKeys(join(dataDir, 'gateway', 'keys'));

  const closers: (() => Promise<void>)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse())
      await c().catch((err: unknown) => logger.warn({ err: String(err) }, 'shutdown step failed'));
  };
  try {
    let broker: EmbeddedBroker | undefined;
    let mqttUrl = opts.mqttUrl;
    if (mqttUrl === undefined) {
      broker = await startEmbeddedBroker({
        credentials: (u) =>
          u === gatewayId
            ? gatewayPassword
            : u.startsWith('dev-')
              ? devicePassword(deviceSecret, u)
              : undefined,
        gatewayUsernames: [gatewayId],
        topicPrefix,
      });
      mqttUrl = broker.url;
      closers.push(() => broker!.close());
    }

    // The demo is the deployable components wired by config: one HrvaultConfig, from the loader's layers (defaults →
    // file → HRVAULT_* → flags) with what the demo generates on top (loopback ports, fresh secrets, its data dir),
    // validated once, then the same factories `hrvault serve`, `hrvault cloud` and `hrvault gateway` use.
    const base = opts.config ?? loadConfig();
    const enclaveDir = join(dataDir, 'enclave');
    const platformKeyFile = join(enclaveDir, 'platform.key');
    const platformPublicKeyFile = join(enclaveDir, 'platform.pub');
    const cfg = (
      overrides: { cspUrl?: string; sftpPort?: number; sftpHostFingerprint?: string } = {},
    ): HrvaultConfig =>
      parseDemoConfig({
        ...base,
        mqtt: { ...base.mqtt, url: mqttUrl!, topicPrefix },
        sensor: { ...base.sensor, patients: totalPatients, firstPatient: 1 },
        pipeline: { ...base.pipeline, mode: opts.mode },
        enclave: { ...base.enclave, dataDir: enclaveDir, platformKeyFile },
        cloud: {
          ...base.cloud,
          dataDir: join(dataDir, 'cloud'),
          host: '127.0.0.1',
          sftpPort: 0,
          hostKeyFile: join(dataDir, 'cloud', 'host.key'),
          batchIntervalMs,
        },
        gateway: {
          ...base.gateway,
          id: gatewayId,
          dataDir: join(dataDir, 'gateway'),
          batchIntervalMs,
          mqttUsername: gatewayId,
          mqttPassword: gatewayPassword,
          mqttClientId: `hrvault-gateway-${gatewayId}-${runId}`,
          sftpHost: '127.0.0.1',
          sftpPort: overrides.sftpPort ?? 0,
          sftpHostFingerprint: overrides.sftpHostFingerprint ?? '',
          platformPublicKeyFile: opts.mode === 'secure' ? platformPublicKeyFile : '',
          allowedMeasurements: opts.mode === 'secure' ? [computeMeasurement()] : [],
          allowSoftwareQuotes: true,
          retryMaxMs: 5000,
          // Simulated time faster than real time runs ahead of the gateway's clock by design (synthetic sensors).
          ...(opts.speed > 1 ? { maxClockAheadMs: 365 * 24 * 3_600_000 } : {}),
          cspUrl: overrides.cspUrl ?? '',
        },
        jetstream:
          opts.jetstream === undefined
            ? base.jetstream
            : { ...base.jetstream, url: opts.jetstream.url, prefix: `demo_${runId}` },
        access: {
          ...base.access,
          dataDir: join(dataDir, 'access'),
          host: '127.0.0.1',
          port: opts.access?.port ?? 0,
          ...(opts.access?.paillierBits === undefined ? {} : { paillierBits: opts.access.paillierBits }),
        },
      });

    let cspUrl: string | undefined;
    if (opts.access !== undefined) {
      const stack = await accessStackFromConfig(cfg().access);
      closers.push(() => stack.close());
      const ids = Array.from({ length: totalPatients }, (_, i) => patientId(i + 1));
      const creds = await createDemoUsers(stack.csp, ids);
      // Every login is written where the user is told: the given file, or logins.json in the data dir.
      const credentialsFile = resolve(opts.access.credentialsFile ?? join(dataDir, 'logins.json'));
      writeFileSync(credentialsFile, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
      io.err(
        dashboardBuilt()
          ? `dashboard: ${stack.address}/  API: ${stack.address}/api/v1\n`
          : `API: ${stack.address}/api/v1 (dashboard not built: npm run build:web)\n`,
      );
      for (const c of creds.filter((c) => c.role !== 'patient'))
        io.err(`  ${c.role.padEnd(13)} ${c.username} / ${c.password}\n`);
      io.err(
        `  (${creds.filter((c) => c.role === 'patient').length} patient logins; all logins in ${credentialsFile})\n`,
      );
      // The gateway is a device at the CSP, exactly as in a deployment: its signing key's public half is registered
      // for its patients, and it delivers every verified result over HTTP with its own credential.
      await registerGatewayDevice(stack.csp, gatewayId, keys.signingPublicKey, ids);
      cspUrl = stack.address;
    }

    // What `hrvault enclave` does for an operator: the platform key, and its public half the gateway pins.
    if (opts.mode === 'secure')
      writeFileSync(platformPublicKeyFile, Buffer.from(ensurePlatformKey(platformKeyFile)).toString('hex'));
    // The gateway's enrolment at the cloud and the enclave, as `hrvault gateway --print-keys` prints it.
    const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');
    const enrolment = {
      id: gatewayId,
      ssh_public_key: keys.sshPublicKey,
      signing_public_key: hex(keys.signingPublicKey),
      hpke_public_key: hex(keys.hpkePublicKey),
    };
    const { cloud, enclave, nats } = await cloudFromConfig(cfg(), logger, [enrolment]);
    closers.push(async () => {
      await cloud.stop();
      await enclave?.close();
      if (nats) {
        // The run's own streams and buckets go with it: a shared server keeps nothing of a finished demo.
        await removeDeployment(nats, cfg().jetstream.prefix).catch((err: unknown) =>
          logger.warn({ err: String(err) }, 'demo streams not removed'),
        );
        await closeNats(nats);
      }
    });
    const workers: WorkerHandle[] = [];
    if (nats && opts.jetstream) {
      // One after the other: the first bootstraps the cluster's secrets, each later one is provisioned by a running one.
      for (let i = 0; i < opts.jetstream.workers; i++) {
        const wlog = logger.child({ component: 'worker', worker: i });
        const wenclave = await clusterEnclave({
          cfg: cfg(),
          nc: nats,
          dataDir: join(dataDir, `worker-${i}`),
          platformKeyFile,
          gateways: [enrolment],
          logger: wlog,
          waitMs: 60_000,
        });
        const c = cfg();
        const w = await startWorker(
          nats,
          wenclave,
          workerOptionsOf(c, `demo-worker-${i}`),
          (level, msg, fields) => wlog[level](fields ?? {}, msg),
        );
        workers.push(w);
        closers.push(async () => {
          wenclave.stopAnswering();
          await w.stop();
        });
      }
    }

    const gateway = await gatewayFromConfig(
      cfg({
        sftpPort: cloud.port,
        sftpHostFingerprint: cloud.hostKeyFingerprint,
        ...(cspUrl === undefined ? {} : { cspUrl }),
      }),
      logger.child({ component: 'gateway' }),
      opts.onResult,
    );
    closers.push(() => gateway.stop());

    const fleet = await startSensorFleet({
      url: mqttUrl,
      topicPrefix,
      patients,
      replays,
      speed: opts.speed,
      durationS: opts.durationS,
      password: (d) => devicePassword(deviceSecret, d),
      maxInflight: 1000,
      logger: logger.child({ component: 'sensor' }),
      ...(opts.startMs === undefined ? {} : { startMs: opts.startMs }),
    });
    closers.push(() => fleet.stop());
    const ctx: DemoContext = { dataDir, cloud, gateway, fleet, enclave, apiUrl: cspUrl, workers };
    await opts.onStarted?.(ctx);

    const status = setInterval(() => {
      const f = fleet.stats();
      const g = gateway.stats();
      const c = cloud.stats();
      const ms = c.batch_ms.at(-1);
      io.err(
        `[${f.simulatedS.toFixed(0)} s] published ${f.published}, gateway ${g.accepted}, uploaded ${g.files_uploaded} files, ` +
          `analysed ${opts.mode === 'secure' ? g.beats_in_results : c.beats_analysed} beats in ${c.batches} micro-batches${ms === undefined ? '' : ` (last ${ms.toFixed(1)} ms)`}, ` +
          `results ${g.results_verified}, alerts ${g.alerts}, rejected ${c.rejected_files.length}\n`,
      );
    }, batchIntervalMs);
    closers.push(async () => clearInterval(status));

    const stop =
      opts.stopSignal ?? (opts.durationS === null ? untilSignal() : new Promise<never>(() => undefined));
    await Promise.race([fleet.done, stop]);
    await fleet.stop();
    const published = fleet.stats().published;
    // Drain: every acknowledged beat reaches the gateway, is cut, uploaded, analysed, answered and delivered.
    // The drain gives up only when nothing has moved for a while (a loaded machine is slow, not stuck).
    const progress = (): number => {
      const g = gateway.stats();
      const c = cloud.stats();
      return (
        g.received + g.files_uploaded + c.files + c.results_written + g.results_verified + g.results_delivered
      );
    };
    const idleMs = 30_000 + 5 * batchIntervalMs;
    const drained = (done: () => boolean): Promise<boolean> => untilIdle(done, progress, idleMs);
    await drained(() => gateway.stats().received >= published);
    await gateway.flush(idleMs, { releaseHeld: true });
    await drained(
      () => gateway.stats().pending_files === 0 && cloud.stats().files >= gateway.stats().files_uploaded,
    );
    // A file still held back for a missing predecessor (bounded reorder) is analysed now, its gap flagged.
    await cloud.flush({ releaseHeld: true });
    await drained(() => {
      const g = gateway.stats();
      const c = cloud.stats();
      const answered = g.results_verified + g.results_rejected + g.results_replayed;
      // JetStream mode: results come from the workers some time after the host published the files, so the host's
      // count of results written is not yet the whole; every uploaded file is answered by a result or a refusal.
      return opts.jetstream === undefined
        ? answered >= c.results_written
        : answered + c.rejected_files.length >= g.files_uploaded;
    });
    if (cspUrl !== undefined) await drained(() => gateway.stats().results_waiting === 0);
    await opts.beforeSummary?.(ctx);

    const g = gateway.stats();
    const c = cloud.stats();
    // In secure mode the host learns no beat counts (issue 9 item 5): the gateway counts the beats of the results it opened.
    const analysed = opts.mode === 'secure' ? g.beats_in_results : c.beats_analysed;
    const sorted = [...c.batch_ms].sort((a, b) => a - b);
    const mean = sorted.length === 0 ? null : sorted.reduce((a, b) => a + b, 0) / sorted.length;
    const reasons: Record<string, number> = {};
    for (const r of c.rejected_files) reasons[r.code] = (reasons[r.code] ?? 0) + 1;
    const summary: DemoSummary = {
      mode: opts.mode,
      patients: totalPatients,
      simulated_s: Math.round(fleet.stats().simulatedS * 10) / 10,
      wall_s: Math.round((performance.now() - started) / 100) / 10,
      beats_published: published,
      beats_accepted: g.accepted,
      beats_analysed: analysed,
      duplicates: Math.max(0, analysed - g.accepted),
      redeliveries_dropped: g.duplicates,
      lost: g.seq_gaps,
      not_analysed: Math.max(0, g.accepted - analysed),
      quarantined: g.quarantined,
      files: c.files,
      batches: c.batches,
      batch_ms_mean: round(mean),
      batch_ms_p50: round(quantile(sorted, 0.5)),
      batch_ms_p99: round(quantile(sorted, 0.99)),
      batch_ms_max: round(sorted.at(-1) ?? null),
      results_verified: g.results_verified,
      results_rejected: g.results_rejected,
      alerts: g.alerts,
      rejected_files: c.rejected_files.length,
      records_ingested: cspUrl === undefined ? null : g.results_delivered,
      rejected_reasons: reasons,
      bad_beats: { malformed: g.malformed, impossible: g.impossible, unknown_device: g.unknown_device },
      workers:
        opts.jetstream === undefined
          ? null
          : workers.map((w) => {
              const st = w.stats();
              return {
                id: w.id,
                runners_started: st.runners_started,
                batches: st.batches,
                files: st.files,
                commits: st.commits,
                leases_lost: st.leases_lost,
              };
            }),
      data_dir: dataDir,
    };
    return summary;
  } finally {
    await closeAll();
    logger.flush();
  }
}

/** The human-readable summary. */
export function formatSummary(s: DemoSummary): string {
  const ms = (x: number | null): string => (x === null ? '–' : `${x.toFixed(1)} ms`);
  return [
    `hrvault demo (${s.mode}): ${s.patients} patients, ${s.simulated_s} s simulated in ${s.wall_s} s`,
    `  beats published     ${s.beats_published}`,
    `  beats analysed      ${s.beats_analysed}${s.mode === 'secure' ? ' (in the enclave)' : ' (in the host)'}`,
    `  duplicates          ${s.duplicates} (redeliveries dropped at the gateway: ${s.redeliveries_dropped})`,
    `  lost                ${s.lost} (sequence gaps at the gateway); accepted but not analysed ${s.not_analysed}; quarantined ${s.quarantined}`,
    `  files               ${s.files} in ${s.batches} micro-batches`,
    `  processing time     mean ${ms(s.batch_ms_mean)}, p50 ${ms(s.batch_ms_p50)}, p99 ${ms(s.batch_ms_p99)}, max ${ms(s.batch_ms_max)}`,
    `  results verified    ${s.results_verified} (rejected ${s.results_rejected})`,
    `  alerts              ${s.alerts}`,
    `  records stored      ${s.records_ingested ?? '– (no access stack)'}`,
    `  rejected files      ${s.rejected_files}${Object.keys(s.rejected_reasons).length ? ` ${JSON.stringify(s.rejected_reasons)}` : ''}`,
    `  bad beats           malformed ${s.bad_beats.malformed}, impossible ${s.bad_beats.impossible}, unknown device ${s.bad_beats.unknown_device}`,
    ...(s.workers === null
      ? []
      : [
          `  workers             ${s.workers.map((w) => `${w.id}: ${w.files} files in ${w.batches} micro-batches, ${w.runners_started} partitions taken, ${w.leases_lost} leases lost`).join('; ')}`,
        ]),
    `  data                ${s.data_dir}`,
    '',
  ].join('\n');
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the whole pipeline on embedded defaults with synthetic patients')
    .option('--patients <n>', 'synthetic patients (default 10, or 0 with --replay)', num)
    .option(
      '--replay <file...>',
      'also replay recorded files as patients (RR text; ecg_*/ppg_* signals through the detectors)',
    )
    .option('--duration <s>', 'simulated seconds to run (default: until Ctrl-C)', num)
    .option('--batch-interval <s>', 'real seconds between batch cuts and micro-batches', num, 10)
    .option('--mode <mode>', 'secure | plain', 'secure')
    .option('--speed <x>', 'simulated seconds per real second', num, 1)
    .option('--seed <n>', 'random seed of the patients', num, 1)
    .option('--data-dir <dir>', 'where gateway/, cloud/ and enclave/ go (default: a fresh temp dir)')
    .option('--mqtt-url <url>', 'use this broker instead of the in-process one')
    .option('--config <file>', 'JSON config file (sections access, log; HRVAULT_ACCESS_*, HRVAULT_LOG_LEVEL)')
    .option('--json', 'print the summary as one JSON object on stdout')
    .option('--port <n>', 'port of the API and dashboard (0 = any free port)', num, 8080)
    .option('--no-access', 'do not start the access stack (API, records)')
    .option('--credentials-file <file>', "write the demo users' logins here (JSON)")
    .option(
      '--jetstream <urls>',
      'JetStream mode: the host publishes to NATS at these URLs and enclave workers share the partitions',
    )
    .option('--workers <n>', 'JetStream mode: enclave workers to start (default 1)', num)
    .action(
      async (o: {
        port: number;
        access: boolean;
        credentialsFile?: string;
        patients?: number;
        replay?: string[];
        duration?: number;
        batchInterval: number;
        mode: string;
        speed: number;
        seed: number;
        dataDir?: string;
        mqttUrl?: string;
        json?: boolean;
        config?: string;
        jetstream?: string;
        workers?: number;
      }) => {
        if (o.mode !== 'secure' && o.mode !== 'plain')
          throw new ConfigError(`--mode must be secure or plain, not "${o.mode}"`);
        const patients = o.patients ?? (o.replay === undefined ? 10 : 0);
        if (!Number.isInteger(patients) || patients < 0)
          throw new ConfigError('--patients must be a whole number ≥ 0');
        if (patients + (o.replay?.length ?? 0) === 0)
          throw new ConfigError('nothing to run: --patients 0 and no --replay');
        if (o.batchInterval < 0.1) throw new ConfigError('--batch-interval must be at least 0.1 s');
        if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)
          throw new ConfigError('--port must be 0–65535');
        if (o.speed <= 0) throw new ConfigError('--speed must be > 0');
        if (o.duration !== undefined && o.duration <= 0) throw new ConfigError('--duration must be > 0');
        if (o.workers !== undefined && o.jetstream === undefined)
          throw new ConfigError('--workers needs --jetstream (the embedded scheduler has one enclave)');
        if (o.workers !== undefined && (!Number.isInteger(o.workers) || o.workers < 1 || o.workers > 64))
          throw new ConfigError('--workers must be 1–64');
        if (o.jetstream !== undefined && o.mode !== 'secure')
          throw new ConfigError('--jetstream runs secure mode only (the workers are enclaves)');
        // Settings the demo shares with the deployable components come from the one loader (defaults → file →
        // HRVAULT_<SECTION>_<KEY> → flags): e.g. the access stack's Paillier size (HRVAULT_ACCESS_PAILLIER_BITS;
        // the tests use 1024 bits, seconds faster to generate on a loaded machine) and the log level.
        const cfg = loadConfig({ ...(o.config === undefined ? {} : { file: o.config }) });
        const paillierBits = cfg.access.paillierBits;
        if (o.access) await ensurePortFree('--port', o.port, '127.0.0.1');
        // Ctrl-C or SIGTERM, from here on (start-up included), ends the run in order: drain, summary, exit 0.
        const signals = stopOnSignal();
        const summary = await runDemo({
          stopSignal: signals.stopped,
          patients,
          ...(o.replay === undefined ? {} : { replay: o.replay }),
          durationS: o.duration ?? null,
          batchIntervalS: o.batchInterval,
          mode: o.mode,
          speed: o.speed,
          seed: o.seed,
          ...(o.dataDir === undefined ? {} : { dataDir: o.dataDir }),
          ...(o.mqttUrl === undefined ? {} : { mqttUrl: o.mqttUrl }),
          json: o.json === true,
          ...(o.jetstream === undefined ? {} : { jetstream: { url: o.jetstream, workers: o.workers ?? 1 } }),
          logLevel: cfg.log.level,
          config: cfg,
          ...(o.access
            ? {
                access: {
                  port: o.port,
                  ...(o.credentialsFile === undefined ? {} : { credentialsFile: o.credentialsFile }),
                  paillierBits,
                },
              }
            : {}),
        })
          .finally(() => signals.dispose())
          .catch((err: unknown) => {
            // Another process took the port after the check above: still one line, exit 2.
            throw o.access && isAddressInUse(err) ? portInUseError('--port', o.port, '127.0.0.1', err) : err;
          });
        if (o.json === true) processIo.out(`${JSON.stringify(summary)}\n`);
        else processIo.err(formatSummary(summary));
      },
    );
}
