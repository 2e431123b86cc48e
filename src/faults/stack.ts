/**
 * A pipeline of separate processes for the fault scenarios: `hrvault cloud` (with its enclave child) and
 * `hrvault gateway` as CLI processes the test can SIGKILL and restart, the deterministic sensors in the test
 * process (so it knows every beat the broker acknowledged), and a broker given by the scenario. No CSP runs:
 * the gateway keeps every verified result in its outbox, which is what the checker reads.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { envName } from '../config.js';
import { partitionOf, pseudonymise } from '../crypto/index.js';
import { computeMeasurement, ensurePlatformKey } from '../enclave/index.js';
import { ensureGatewayKeys, startEmbeddedBroker, type EmbeddedBroker } from '../gateway/index.js';
import { devicePassword, startSensorFleet, syntheticPatients, type ClockStep, type PatientParams, type SensorFleet } from '../sensor/index.js';
import { exitWithin, ROOT, spawnCli, type CliProcess, type Exit } from '../test-support/processes.js';
import { ackedPrefix, checkCleanRun, checkExactlyOnce, expectedBeats, readKeptEntries, readKeptResults, type AnalysedBatch, type ExactlyOnceReport, type SensorBeat } from './checker.js';
import { scanHost } from './plaintext.js';

/** Simulated time zero of every scenario (2026-01-01T00:00:00Z): fixed so that a clean run and a faulty run carry the same beats. */
export const SCENARIO_START_MS = Date.UTC(2026, 0, 1);
export const DEVICE_SECRET = 'faults-device-secret';
export const GATEWAY_USER = 'gw1';
export const GATEWAY_PASSWORD = 'faults-gateway-password';

export interface StackOptions {
  /** Name of the scenario (the temp directory's prefix). */
  name: string;
  patients: number;
  /** Seed of the synthetic patients. */
  seed: number;
  mqttUrl: string;
  topicPrefix: string;
  /** The gateway's batch cut interval and the cloud's micro-batch interval (s). */
  batchIntervalS?: number;
  cloudIntervalS?: number;
  /** The CSP the gateway forwards its verified results to (default: none, the results stay in its outbox). */
  cspUrl?: string;
  /** Runs the host in JetStream mode with `hrvault worker` processes doing the analysis (issue 11). */
  jetstream?: JetStreamStackOptions;
}

/** The JetStream scale-out of a fault stack: the cluster it talks to and the work stream's settings (times in ms). */
export interface JetStreamStackOptions {
  /** Every NATS node's client URL (the host and the workers get them all, so they fail over). */
  urls: readonly string[];
  /** Subject and bucket prefix, unique per scenario (one subject token). */
  prefix: string;
  partitions: number;
  /** How many `hrvault worker` processes the scenario runs (indices 0 … workers-1 for startWorker). */
  workers: number;
  /** Stream and bucket replicas (default 3: the scenarios run on a three-node cluster). */
  replicas?: number;
  /** Redelivery of a dead worker's unacknowledged files (default 5000: it comes back fast). */
  ackWaitMs?: number;
  /** Partition lease length (default 3000). */
  leaseTtlMs?: number;
  /**
   * Each stream's byte limit (default 128 MiB): JetStream reserves it on every replica, and the test cluster's nodes
   * have 1 GiB of file store, which the default 1 GiB for the work stream alone would use up.
   */
  maxBytes?: number;
  /** Every NATS node's store directory: untrusted, so I2 scans them. */
  storeDirs?: readonly string[];
}

/**
 * A pseudonym key (derived from the seed, so a rerun with the seed has the same layout) under which the patients'
 * pseudonyms fall into as many distinct partitions as there can be: every partition then carries work, so any
 * worker holding any partition is mid-batch now and then, and a fault aimed at "a worker" always hits work.
 * Returns the key and each patient's partition.
 */
export function coveringPseudonymKey(gateway: string, patientIds: readonly string[], partitions: number, seed: number): { key: Buffer; partitionOf: Map<string, number> } {
  const want = Math.min(partitions, patientIds.length);
  for (let k = 0; k < 100_000; k++) {
    const key = createHash('sha256').update(`hrvault-faults/pseudonym-key/${seed}/${k}`).digest();
    // The host partitions a file by `<gateway>/<pseudonym>` (src/cloud/jetstream-host.ts).
    const of = new Map(patientIds.map((p) => [p, partitionOf(`${gateway}/${pseudonymise(p, key)}`, partitions)]));
    if (new Set(of.values()).size === want) return { key, partitionOf: of };
  }
  throw new Error(`no pseudonym key puts ${patientIds.length} patients into ${want} distinct partitions of ${partitions}: use more patients`);
}

export interface ProcessRun {
  name: string;
  proc: CliProcess;
}

export interface FaultStack {
  dir: string;
  /** The gateway's `--data-dir`; its spool (and result outbox) is `<gatewayDir>/spool`. */
  gatewayDir: string;
  cloudDir: string;
  enclaveDir: string;
  patients: PatientParams[];
  /** Each patient's partition (JetStream stacks; every partition carries at least one patient when there are enough). */
  partitionOfPatient: ReadonlyMap<string, number>;
  /** Worker i's `--data-dir` (its enclave's sealed files are under `<dir>/enclave`); empty without JetStream. */
  workerDirs: string[];
  /** The cloud's SFTP port (fixed after its first start, so a restarted cloud is where the gateway expects it). */
  cloudPort(): number;
  /**
   * Starts `hrvault worker` number i (JetStream stacks only) with its own data directory and the shared platform
   * key, and waits for "worker running". `urls` replaces the NATS URLs it is given (fault proxies in between).
   */
  startWorker(i: number, o?: { env?: Record<string, string>; urls?: readonly string[] }): Promise<CliProcess>;
  /** The latest process started for each worker index (undefined: never started). */
  workers(): (CliProcess | undefined)[];
  /** The host's and each worker's directory (untrusted), for I2. */
  untrustedDirs(): string[];
  /** Each NATS node's store directory (untrusted too), for I2. */
  natsStoreDirs(): string[];
  /** Starts `hrvault cloud` (environment added to the test's) and waits for "cloud running". */
  startCloud(env?: Record<string, string>): Promise<CliProcess>;
  /**
   * Starts `hrvault gateway` and waits for "gateway running". `sftpPort` overrides the cloud's port (a fault
   * proxy in between), `mqttUrl` the broker's.
   */
  startGateway(opts?: { env?: Record<string, string>; sftpPort?: number; mqttUrl?: string }): Promise<CliProcess>;
  /**
   * Starts the deterministic sensors: `durationS` simulated seconds (null: until stop()) at `speed`, from
   * SCENARIO_START_MS; `clockSteps` injects beats with a stepped time (see SensorFleetOptions).
   */
  startSensors(durationS: number | null, speed: number, o?: { mqttUrl?: string; startMs?: number; clockSteps?: ClockStep[] }): Promise<SensorFleet>;
  /** Every process started so far, in order (for the log scan and the post-mortem). */
  runs: ProcessRun[];
  /** Why gateway processes died while starting (each was started again). */
  gatewayStartFailures: string[];
  /** The results the gateway verified so far (its outbox). */
  analysed(): AnalysedBatch[];
  /** The sensors' beats in `durationS` simulated seconds from `startMs` (default SCENARIO_START_MS). */
  expected(durationS: number, startMs?: number): Map<string, SensorBeat[]>;
  /** I1 against the fleet's acknowledgements. */
  checkI1(durationS: number, acked: ReadonlyMap<string, ReadonlySet<number>>): ExactlyOnceReport;
  /** Files the host quarantined, counted by error code (a replay refusal is HRV_ERR_SEQUENCE_REPLAY). */
  hostRejections(): Record<string, number>;
  /** Each file the host quarantined: its name in the inbox and the error code. */
  hostRejectedFiles(): { name: string; code: string }[];
  /** SIGKILLs every process still running (whole process groups: the cloud's enclave child too). */
  killAll(): Promise<void>;
  /** killAll, then removes the directory unless `keep`. */
  close(keep?: boolean): Promise<void>;
}

/** Sets up keys, enrolment and directories; starts nothing yet. */
export function createStack(opts: StackOptions): FaultStack {
  const dir = mkdtempSync(join(tmpdir(), `hrv-faults-${opts.name}-`));
  const gatewayDir = join(dir, 'gw');
  const cloudDir = join(dir, 'cloud');
  const enclaveDir = join(dir, 'enclave');
  for (const d of [gatewayDir, cloudDir, enclaveDir]) mkdirSync(d, { recursive: true });
  const keys = ensureGatewayKeys(join(gatewayDir, 'keys'));
  const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');
  const enrolment = join(dir, 'gw1.json');
  writeFileSync(
    enrolment,
    JSON.stringify({ id: GATEWAY_USER, ssh_public_key: keys.sshPublicKey, signing_public_key: hex(keys.signingPublicKey), hpke_public_key: hex(keys.hpkePublicKey) }),
  );
  const platformKey = join(enclaveDir, 'platform.key');
  const platformPub = join(enclaveDir, 'platform.pub');
  writeFileSync(platformPub, `${hex(ensurePlatformKey(platformKey))}\n`);
  const measurement = computeMeasurement();
  const patients = syntheticPatients(opts.patients, opts.seed);
  let partitionOfPatient = new Map<string, number>();
  if (opts.jetstream !== undefined) {
    // The gateway reads its pseudonym key from keys.json when it starts; no process has read it yet.
    const cover = coveringPseudonymKey(GATEWAY_USER, patients.map((p) => p.patient), opts.jetstream.partitions, opts.seed);
    const keysFile = join(gatewayDir, 'keys', 'keys.json');
    const doc = JSON.parse(readFileSync(keysFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(keysFile, JSON.stringify({ ...doc, pseudonym_key: cover.key.toString('hex') }, null, 2), { mode: 0o600 });
    partitionOfPatient = cover.partitionOf;
  }
  const runs: ProcessRun[] = [];
  let port = 0;
  let hostKey = '';
  const batchS = opts.batchIntervalS ?? 0.3;
  const cloudS = opts.cloudIntervalS ?? 0.3;
  const js = opts.jetstream;
  const workerDirs = js === undefined ? [] : Array.from({ length: js.workers }, (_, i) => join(dir, `worker${i}`));
  for (const d of workerDirs) mkdirSync(join(d, 'enclave'), { recursive: true });
  const workerProcs: (CliProcess | undefined)[] = workerDirs.map(() => undefined);
  // What the host and every worker read from the environment (src/config.ts, section jetstream).
  const jetstreamEnv = (urls: readonly string[]): Record<string, string> =>
    js === undefined
      ? {}
      : {
          [envName('jetstream', 'url')]: urls.join(','),
          [envName('jetstream', 'prefix')]: js.prefix,
          [envName('jetstream', 'partitions')]: String(js.partitions),
          [envName('jetstream', 'replicas')]: String(js.replicas ?? 3),
          [envName('jetstream', 'ackWaitMs')]: String(js.ackWaitMs ?? 5000),
          [envName('jetstream', 'leaseTtlMs')]: String(js.leaseTtlMs ?? 3000),
          [envName('jetstream', 'maxBytes')]: String(js.maxBytes ?? 128 * 2 ** 20),
        };

  const stack: FaultStack = {
    dir,
    gatewayDir,
    cloudDir,
    enclaveDir,
    patients,
    runs,
    gatewayStartFailures: [],
    partitionOfPatient,
    workerDirs,
    cloudPort: () => port,
    async startCloud(env = {}) {
      const proc = spawnCli(
        ['cloud', '--gateway-keys', enrolment, '--data-dir', cloudDir, '--enclave-dir', enclaveDir, '--port', String(port), '--batch-interval', String(cloudS)],
        { env: { ...jetstreamEnv(js?.urls ?? []), ...env } },
      );
      runs.push({ name: 'cloud', proc });
      const m = await proc.waitFor(/"port":(\d+),"host_key":"(SHA256:[^"]+)"[^\n]*cloud running/, { timeoutMs: 90_000 });
      port = Number(m[1]);
      hostKey = m[2]!;
      return proc;
    },
    async startWorker(i, o = {}) {
      if (js === undefined) throw new Error('startWorker: this stack has no jetstream option');
      const wdir = workerDirs[i];
      if (wdir === undefined) throw new Error(`startWorker: no worker ${i} (the stack has ${workerDirs.length})`);
      const proc = spawnCli(['worker', '--gateway-keys', enrolment], {
        env: {
          ...jetstreamEnv(o.urls ?? js.urls),
          [envName('worker', 'dataDir')]: wdir,
          // Its own enclave directory too: a default one would be shared by every worker (and relative to the repo).
          [envName('enclave', 'dataDir')]: join(wdir, 'enclave'),
          // One platform key for every worker's enclave: the gateway pins its public half (platform.pub).
          [envName('enclave', 'platformKeyFile')]: platformKey,
          [envName('worker', 'reorderHoldMs')]: '5000',
          ...o.env,
        },
      });
      runs.push({ name: `worker${i}`, proc });
      workerProcs[i] = proc;
      await proc.waitFor(/worker running/, { timeoutMs: 90_000 });
      return proc;
    },
    workers: () => [...workerProcs],
    untrustedDirs: () => [cloudDir, ...workerDirs],
    natsStoreDirs: () => [...(js?.storeDirs ?? [])],
    async startGateway(o = {}) {
      if (hostKey === '') throw new Error('start the cloud before the gateway (the gateway pins its host key)');
      const proc = spawnCli(
        [
          'gateway',
          // Without a CSP (port 9 refuses connections) every verified result stays in the outbox, where the checker reads it.
          '--csp-url', opts.cspUrl ?? 'http://127.0.0.1:9',
          '--id', GATEWAY_USER,
          '--data-dir', gatewayDir,
          '--mode', 'secure',
          '--mqtt-url', o.mqttUrl ?? opts.mqttUrl,
          '--topic-prefix', opts.topicPrefix,
          '--mqtt-username', GATEWAY_USER,
          '--mqtt-password', GATEWAY_PASSWORD,
          '--patients', String(opts.patients),
          '--batch-interval', String(batchS),
          '--sftp-port', String(o.sftpPort ?? port),
          '--sftp-host-fingerprint', hostKey,
          '--platform-public-key-file', platformPub,
          '--allowed-measurement', measurement,
          '--allow-software-quotes',
        ],
        { env: o.env ?? {} },
      );
      runs.push({ name: 'gateway', proc });
      try {
        await proc.waitFor(/gateway running/, { timeoutMs: 90_000 });
      } catch (err) {
        // A gateway that dies while starting is started again, as its supervisor (systemd Restart=) would; each
        // such death is recorded and printed with the invariants (it is a finding in itself).
        const why = /internal error: [^\n]*|HRV_ERR_[A-Z_]+[^\n]*/.exec(proc.stderr())?.[0] ?? (err instanceof Error ? err.message.split('\n')[0]! : String(err));
        stack.gatewayStartFailures.push(why);
        if (stack.gatewayStartFailures.length > 5) throw err;
        return stack.startGateway(o);
      }
      return proc;
    },
    startSensors(durationS, speed, o = {}) {
      return startSensorFleet({
        url: o.mqttUrl ?? opts.mqttUrl,
        topicPrefix: opts.topicPrefix,
        patients,
        speed,
        durationS,
        startMs: o.startMs ?? SCENARIO_START_MS,
        password: (d) => devicePassword(DEVICE_SECRET, d),
        maxInflight: 100,
        ...(o.clockSteps === undefined ? {} : { clockSteps: o.clockSteps }),
      });
    },
    analysed: () => readKeptResults(join(gatewayDir, 'spool')),
    expected: (durationS, startMs = SCENARIO_START_MS) => expectedBeats(patients, durationS, startMs),
    checkI1: (durationS, acked) => checkExactlyOnce(expectedBeats(patients, durationS, SCENARIO_START_MS), acked, readKeptResults(join(gatewayDir, 'spool'))),
    hostRejections() {
      const out: Record<string, number> = {};
      for (const { code } of stack.hostRejectedFiles()) out[code] = (out[code] ?? 0) + 1;
      return out;
    },
    hostRejectedFiles() {
      const out: { name: string; code: string }[] = [];
      const q = join(cloudDir, 'quarantine');
      // A host in JetStream mode may not have quarantined anything (nor made the directory) yet.
      if (!existsSync(q)) return out;
      for (const rel of readdirSync(q, { recursive: true, encoding: 'utf8' })) {
        if (!rel.endsWith('.reason.json')) continue;
        const { name, code } = JSON.parse(readFileSync(join(q, rel), 'utf8')) as { name: string; code: string };
        out.push({ name, code });
      }
      return out;
    },
    async killAll() {
      for (const r of runs) r.proc.signalGroup('SIGKILL');
      await Promise.all(runs.map((r) => r.proc.exited));
    },
    async close(keep = false) {
      await stack.killAll();
      if (!keep) rmSync(dir, { recursive: true, force: true });
      else console.log(`faults: kept ${dir} for inspection`);
    },
  };
  return stack;
}

/** SIGKILLs the process (alone, not its group) and waits for its exit. */
export async function sigkill(p: CliProcess): Promise<Exit> {
  p.signal('SIGKILL');
  return exitWithin(p, 30_000);
}

/** Stops the process with SIGTERM (it drains) and returns its exit; SIGKILLs its group after `timeoutMs`. */
export function sigterm(p: CliProcess, timeoutMs = 60_000): Promise<Exit> {
  p.signal('SIGTERM');
  return exitWithin(p, timeoutMs);
}

/**
 * Polls `cond` (every 100 ms) until it holds; gives up when `progress()` has not changed for `quietMs` (the
 * pipeline stopped moving, so waiting longer cannot help) and returns false. Not a timed assertion: the
 * caller checks the invariants either way, and they say what is missing.
 */
export async function untilSettled(cond: () => boolean, progress: () => number, quietMs = 20_000): Promise<boolean> {
  let last = progress();
  let lastChange = Date.now();
  for (;;) {
    if (cond()) return true;
    const now = progress();
    if (now !== last) {
      last = now;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > quietMs) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Counts the gateway's "result kept" log lines in a run's output (results verified and kept by that incarnation). */
export function resultsKept(p: CliProcess): number {
  return p.stderr().split('result kept for the CSP').length - 1;
}

/**
 * Waits until the armed failpoint `point` fires in `proc` (it exits by SIGKILL, or `fired()` sees its effect in a
 * process that survives, such as the enclave child of the cloud). Throws when `passed()` says the code went
 * through that commit boundary more often than the armed hit without firing (the point is not placed in the
 * code), when the process exits otherwise, or when nothing moves any more.
 */
export async function awaitFailpoint(
  proc: CliProcess,
  point: string,
  o: { passed: () => boolean; progress: () => number; fired?: () => boolean },
): Promise<void> {
  let exited = false;
  void proc.exited.then(() => (exited = true));
  const fired = o.fired ?? (() => false);
  const ok = await untilSettled(() => exited || fired() || o.passed(), o.progress, 30_000);
  if (fired()) return;
  const exit = exited ? await proc.exited : undefined;
  if (exit?.signal === 'SIGKILL') return;
  if (exit !== undefined) throw new Error(`process armed at ${point} exited with ${exit.code}/${exit.signal}, not by the failpoint's SIGKILL:\n${proc.stderr().slice(-2000)}`);
  proc.signalGroup('SIGKILL');
  throw new Error(
    ok
      ? `failpoint ${point} never fired: the pipeline went through that commit boundary far more often than the armed hit. The point is not placed in the code (issue 8).`
      : `process armed at ${point} stopped making progress before the point fired`,
  );
}

/** True when some source file outside src/failpoints calls failpoint('<name>') (the point is placed). */
export function failpointPlaced(name: string): boolean {
  const src = join(ROOT, 'src');
  for (const rel of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    if (!rel.endsWith('.ts') || rel.endsWith('.test.ts') || rel.startsWith('failpoints') || rel.startsWith('faults')) continue;
    if (readFileSync(join(src, rel), 'utf8').includes(`failpoint('${name}')`)) return true;
  }
  return false;
}

/** The demo's in-process broker with the suite's credentials (the gateway user and the devices' derived passwords). */
export function startSuiteBroker(topicPrefix: string): Promise<EmbeddedBroker> {
  return startEmbeddedBroker({
    credentials: (u) => (u === GATEWAY_USER ? GATEWAY_PASSWORD : u.startsWith('dev-') ? devicePassword(DEVICE_SECRET, u) : undefined),
    gatewayUsernames: [GATEWAY_USER],
    topicPrefix,
  });
}

export interface Outcome {
  i1: ExactlyOnceReport;
  i2: string[];
  i3: string[];
  published: number;
  /** How the last gateway ended on SIGTERM ('exited', or why not: it is then SIGKILLed). */
  gatewaySigterm: string;
  /** How each JetStream worker's last process ended on SIGTERM (empty without JetStream). */
  workerSigterm: string[];
  /** Why gateway processes died while starting (each was started again). */
  gatewayStartFailures: string[];
}

/**
 * The end of every scenario: stops the sensors (waiting for every PUBACK), lets the gateway drain until the kept
 * results carry as many beats as were acknowledged (`earlierPublished`: beats of fleets stopped before; less the
 * `excludedBeats` expected quarantined) or nothing
 * moves any more, and stops it with SIGTERM (it cuts and uploads what is left). Results the host wrote after that
 * are fetched by one more, clean incarnation of the gateway (a loss is one that no restart recovers). Then the
 * cloud stops, and I1, I2 and I3 are evaluated.
 */
export async function drainAndCheck(
  stack: FaultStack,
  fleet: SensorFleet,
  gw: CliProcess,
  cloud: CliProcess,
  o: { earlierPublished?: number; gatewayStuck?: boolean; excludedBeats?: number } = {},
): Promise<Outcome> {
  await fleet.stop();
  const st = fleet.stats();
  // Beats the scenario expects the gateway to quarantine (`excludedBeats`) are never in a result.
  const target = st.published + (o.earlierPublished ?? 0) - (o.excludedBeats ?? 0);
  const beats = (): number => stack.analysed().reduce((s, b) => s + b.tMs.length, 0);
  // A gateway the scenario already saw stuck is SIGKILLed at once: its recovery incarnation does the draining.
  if (o.gatewayStuck === true) await sigkill(gw);
  else await untilSettled(() => beats() >= target, beats);
  // A gateway stuck on a dead connection does not end on SIGTERM: recorded (exitWithin SIGKILLs it), the invariants still evaluated.
  const stop = (p: CliProcess): Promise<string> =>
    sigterm(p, 30_000).then(
      () => 'exited',
      (err: unknown) => `did not exit on SIGTERM: ${err instanceof Error ? err.message.split('\n')[0]! : String(err)}`,
    );
  let gatewaySigterm = o.gatewayStuck === true ? 'stuck: SIGKILLed' : await stop(gw);
  if (beats() < target) {
    const last = await stack.startGateway();
    await untilSettled(() => beats() >= target, beats);
    gatewaySigterm += `; recovery incarnation ${await stop(last)}`;
  }
  await sigterm(cloud).catch(() => undefined);
  // Workers stop after the host (nothing is left for them to do); each prints its stats on SIGTERM.
  const workerSigterm: string[] = [];
  for (const w of stack.workers()) if (w !== undefined) workerSigterm.push(await stop(w));
  const duration = st.simulatedS + 10;
  const i1 = stack.checkI1(duration, ackedPrefix(st.perPatient));
  // A CI log is all a failed run leaves behind: print each process's last warnings and errors beside the verdict.
  if (!i1.ok) printTroubleTail(stack);
  return {
    i1,
    i2: scanHost(stack, duration),
    i3: checkCleanRun(readKeptEntries(join(stack.gatewayDir, 'spool')), GATEWAY_USER),
    published: st.published,
    gatewaySigterm,
    workerSigterm,
    gatewayStartFailures: [...stack.gatewayStartFailures],
  };
}

/**
 * Injects `n` kills at seeded random moments: each waits until the gateway `kept()` one more result (so the kill
 * lands in a pipeline that is cutting, uploading and fetching), then 100 ms + up to `spreadMs` (the fault's
 * moment, not a wait for anything), then calls `killAndRestart`. Returns the moments, for the printout.
 */
export async function killAtRandomMoments(n: number, rand: () => number, spreadMs: number, kept: () => number, killAndRestart: () => Promise<void>): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const before = kept();
    await untilSettled(() => kept() > before, kept, 30_000);
    const delay = Math.round(100 + rand() * spreadMs);
    await new Promise((r) => setTimeout(r, delay));
    await killAndRestart();
    out.push(`random+${delay}ms`);
  }
  return out;
}

/** Prints, per process of `stack`, its last `n` log lines at warn level or above (and lines that are not JSON). */
export function printTroubleTail(stack: FaultStack, n = 15): void {
  for (const [i, r] of stack.runs.entries()) {
    const trouble = r.proc
      .stderr()
      .split('\n')
      .filter((l) => l !== '' && !/^\{"level":(10|20|30),/.test(l));
    console.log(`--- ${i}-${r.name} (pid ${r.proc.child.pid ?? '?'}): last ${Math.min(n, trouble.length)} of ${trouble.length} warn/error lines\n${trouble.slice(-n).map((l) => l.slice(0, 400)).join('\n')}`);
  }
}
