/**
 * One measured point: a fresh server child (host + enclave, pinned to the server cores) and a load-generator child
 * (pinned to the client cores) for `clients` clients at `rate` beats/s each, for `durationMs`; then the figures.
 * JetStream mode (issue 11): the server child is the host alone, publishing to a deployment of its own on NATS, and
 * `workers` worker children (each with its enclave child, pinned to the worker cores) analyse; the deployment's
 * streams are removed afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forkChild, type BenchChild } from './children.js';
import { makeIdentities, type Identities } from './identities.js';
import { HrvaultError } from '../../errors.js';
import { BATCH_PHASES, batchPhasesSchema, type BatchPhasesMs, type GeneratorConfig, type GeneratorFinal, type ServerFinal, type ServerReady, type TargetFile, type WorkerFinal } from './protocol.js';
import { connectNats, removeDeployment } from '../../jetstream/index.js';
import { natsServerPid, procUsage } from './proc-usage.js';
import { cpuProfArgs, summariseProfileDir, type ProfileSummary } from './profile.js';
import { backlogGrows, isStable, mean, percentile, round } from './stats.js';

export interface PointSpec {
  mode: 'secure' | 'plain';
  clients: number;
  /** Beats per second of each client. */
  rate: number;
  batchIntervalMs: number;
  durationMs: number;
  clientsPerGateway: number;
  /** taskset CPU lists; undefined = unpinned. */
  serverCpus?: string;
  clientCpus?: string;
  /** Plaintext padding buckets (bytes), as the gateway's config. */
  bucketBytes: number[];
  /** Clients against a server another host runs (`hrvault bench serve`): its address and what it wrote. */
  target?: { host: string; port: number; file: TargetFile };
  /** `--cpu-prof`: each process of the point writes a V8 CPU profile under `<dir>/<point>/<process>`. */
  cpuProfDir?: string;
  /** JetStream mode: the NATS URL, the workers to run, and their taskset CPU list (undefined = the server's). */
  jetstream?: { url: string; workers: number; workerCpus?: string };
}

/** One point's figures: the `--json` line and the CSV row. Times in ms, CPU in % of one core, RSS in MB. */
export interface PointResult {
  mode: 'secure' | 'plain';
  clients: number;
  rate: number;
  batch_interval_s: number;
  duration_s: number;
  batches: number;
  batch_ms_mean: number | null;
  batch_ms_p50: number | null;
  batch_ms_p99: number | null;
  batch_ms_max: number | null;
  /**
   * Mean of each step of the measured micro-batches (ms): listing the inboxes, reading the files, analysing them
   * (plain) or waiting for the enclave (secure), writing the results, filing the inputs. Null without the server's report.
   */
  batch_phases_ms_mean: BatchPhasesMs | null;
  e2e_ms_p50: number | null;
  e2e_ms_p99: number | null;
  beats_per_s: number | null;
  /** Bytes/s of files uploaded (sealed and padded in secure mode). */
  bytes_per_s: number | null;
  /** Bytes/s of the clients' RR data (the CSV before padding and sealing): the same in both modes. */
  data_bytes_per_s: number | null;
  files_sent: number;
  results_verified: number;
  results_rejected: number;
  results_missing: number;
  /** Every interval's uploads finished within the interval: the offered load was delivered (else not stable). */
  uploads_kept_up: boolean;
  /** Files left in the inboxes at the end of each micro-batch. */
  backlog_end: number[];
  backlog_growing: boolean;
  skipped_ticks: number;
  host_cpu_pct: number | null;
  host_rss_max_mb: number | null;
  enclave_cpu_pct: number | null;
  enclave_rss_max_mb: number | null;
  generator_cpu_pct: number | null;
  generator_rss_max_mb: number | null;
  upload_lag_ms_max: number | null;
  pinned: boolean;
  first_error: string | null;
  stable: boolean;
  /** JetStream mode: the workers of the point (absent: the embedded scheduler). */
  workers?: number;
  /** JetStream mode: CPU % of one core of the worker processes, and of their enclave children, summed over the workers. */
  worker_cpu_pct?: number | null;
  worker_enclave_cpu_pct?: number | null;
  /** JetStream mode: CPU % of one core of the local nats-server over the point (a shared system process: its other clients count too). */
  nats_cpu_pct?: number | null;
  /** JetStream mode: files each worker analysed (the partitions' share). */
  worker_files?: number[];
  /**
   * CPU time per file uploaded (ms), by process, over the whole point (idle loops, start of the load and drain
   * included, so an upper bound at light load): what the model for more hosts is built from.
   */
  cpu_ms_per_file?: Partial<Record<'host' | 'enclave' | 'workers' | 'worker_enclaves' | 'nats' | 'generator', number | null>>;
  /** With `--cpu-prof`: where each process's CPU time went (JSON only, not in the CSV). */
  profile?: Partial<Record<ProfiledProcess, ProfileSummary>>;
}

/** `secure`, `plain`, or `jetstream ×N` for JetStream mode with N workers (log lines and the report). */
export function variantName(v: { mode: string; workers?: number | undefined }): string {
  return v.workers === undefined ? v.mode : `jetstream ×${v.workers}`;
}

/** The processes of a point that `--cpu-prof` profiles. */
export type ProfiledProcess = 'host' | 'enclave' | 'generator';

const identityCache = new Map<number, Identities>();
function identitiesFor(n: number): Identities {
  let ids = identityCache.get(n);
  if (!ids) identityCache.set(n, (ids = makeIdentities(n)));
  return ids;
}

/** Runs one point end to end through the real SFTP server and (secure) enclave; `log` gets progress lines. */
export async function runPoint(spec: PointSpec, log: (line: string) => void = () => undefined): Promise<PointResult> {
  const nGw = Math.ceil(spec.clients / spec.clientsPerGateway);
  const tag = `${variantName({ mode: spec.mode, workers: spec.jetstream?.workers })} ${spec.clients} clients × ${spec.rate}/s`;
  if (spec.target) {
    const t = spec.target;
    if (t.file.ready.mode !== spec.mode) throw new HrvaultError('HRV_ERR_USAGE', `the target serves ${t.file.ready.mode} mode, not ${spec.mode} (--mode)`);
    if (t.file.gateways.length < nGw) throw new HrvaultError('HRV_ERR_USAGE', `${spec.clients} clients need ${nGw} gateway identities; the target file has ${t.file.gateways.length} (bench serve --gateways)`);
    if (t.file.ready.batchIntervalMs !== spec.batchIntervalMs) throw new HrvaultError('HRV_ERR_USAGE', `the target runs ${t.file.ready.batchIntervalMs / 1000}-s batches, not ${spec.batchIntervalMs / 1000} s (--batch-interval)`);
    const gen = forkChild('generator-main', spec.clientCpus);
    try {
      const g = await generate(gen, spec, tag, log, { ...t.file.ready, port: t.port }, t.host, t.file.gateways.slice(0, nGw));
      return summarise(spec, g, undefined, gen.pinned);
    } finally {
      await gen.kill();
    }
  }
  const ids = identitiesFor(nGw);
  if (spec.jetstream) return runJetstreamPoint(spec, spec.jetstream, ids, tag, log);
  const dataDir = mkdtempSync(join(tmpdir(), `hrvault-bench-${spec.mode}-`));
  const profDir = spec.cpuProfDir === undefined ? undefined : join(spec.cpuProfDir, `${spec.mode}-${spec.clients}x${spec.rate}`);
  const profArgs = (p: ProfiledProcess): string[] => (profDir === undefined ? [] : cpuProfArgs(join(profDir, p)));
  let server: BenchChild | undefined;
  let gen: BenchChild | undefined;
  let result: PointResult | undefined;
  try {
    server = forkChild('server-main', spec.serverCpus, profArgs('host'));
    const readyP = server.next<ServerReady>('ready', 120_000);
    const enclaveNodeArgs = profDir === undefined ? {} : { enclaveNodeArgs: profArgs('enclave') };
    server.send({ op: 'start', config: { mode: spec.mode, host: '127.0.0.1', port: 0, batchIntervalMs: spec.batchIntervalMs, dataDir, gateways: ids.server, ...enclaveNodeArgs } });
    const ready = await readyP;
    server.on('batch', (m) => {
      const s = m.sample as { batch: number; files: number; ms: number; backlog_end: number };
      log(`  ${tag}: micro-batch ${s.batch}: ${s.files} files in ${s.ms.toFixed(0)} ms, ${s.backlog_end} waiting after`);
    });
    gen = forkChild('generator-main', spec.clientCpus, profArgs('generator'));
    const g = await generate(gen, spec, tag, log, ready, '127.0.0.1', ids.generator.slice(0, nGw));
    const sfP = server.next<ServerFinal>('final', 120_000);
    server.send({ op: 'stop' });
    const sf = await sfP;
    result = summarise(spec, g, sf, server.pinned && gen.pinned);
  } finally {
    // A profiled process writes its profile as it exits: let it (it exits once the harness has its final report).
    if (profDir !== undefined && result) await Promise.all([server?.exit(60_000), gen?.exit(60_000)]);
    // Dead before their directory goes (a process still writing would leave files behind).
    await Promise.all([server?.kill(), gen?.kill()]);
    rmSync(dataDir, { recursive: true, force: true });
  }
  if (profDir !== undefined) {
    const profile: PointResult['profile'] = {};
    for (const p of ['host', 'enclave', 'generator'] as const) {
      const s = summariseProfileDir(join(profDir, p));
      if (s) profile[p] = s;
    }
    result.profile = profile;
    log(`  ${tag}: CPU profiles in ${profDir}`);
  }
  return result;
}

/** Partitions of a benchmark deployment: the default of `hrvault worker` (16), shared evenly by up to 8 workers. */
const BENCH_PARTITIONS = 16;

/**
 * A JetStream point: host (server child, no enclave), then the workers one after the other (the first bootstraps the
 * cluster secrets, each later one is provisioned by a running one), then the generator; stopped in the reverse order.
 * The deployment has a prefix of its own and its streams are removed at the end, whatever happened.
 */
async function runJetstreamPoint(spec: PointSpec, js: NonNullable<PointSpec['jetstream']>, ids: Identities, tag: string, log: (line: string) => void): Promise<PointResult> {
  const nGw = Math.ceil(spec.clients / spec.clientsPerGateway);
  const prefix = `bench_${randomBytes(5).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'hrvault-bench-js-'));
  const natsPid = natsServerPid(Number(new URL(js.url).port || 4222));
  let server: BenchChild | undefined;
  let gen: BenchChild | undefined;
  const workers: BenchChild[] = [];
  try {
    server = forkChild('server-main', spec.serverCpus);
    const readyP = server.next<ServerReady>('ready', 120_000);
    server.send({ op: 'start', config: { mode: 'secure', host: '127.0.0.1', port: 0, batchIntervalMs: spec.batchIntervalMs, dataDir, gateways: ids.server, jetstream: { url: js.url, prefix, partitions: BENCH_PARTITIONS } } });
    const ready = await readyP;
    server.on('batch', (m) => {
      const s = m.sample as { batch: number; files: number; ms: number; backlog_end: number };
      log(`  ${tag}: host tick ${s.batch}: ${s.files} files published in ${s.ms.toFixed(0)} ms, ${s.backlog_end} waiting after (inboxes + work stream)`);
    });
    for (let i = 0; i < js.workers; i++) {
      const w = forkChild('worker-main', js.workerCpus ?? spec.serverCpus);
      workers.push(w);
      const up = w.next<{ pid: number }>('ready', 120_000);
      w.send({ op: 'start', config: { url: js.url, prefix, partitions: BENCH_PARTITIONS, index: i, dataDir: join(dataDir, `worker-${i}`), platformKeyFile: join(dataDir, 'platform.key'), fetchMs: Math.min(1000, spec.batchIntervalMs), gateways: ids.server } });
      await up;
      log(`  ${tag}: worker ${i} running`);
    }
    const nats0 = natsPid === undefined ? undefined : procUsage(natsPid);
    gen = forkChild('generator-main', spec.clientCpus);
    const g = await generate(gen, spec, tag, log, ready, '127.0.0.1', ids.generator.slice(0, nGw));
    const nats1 = natsPid === undefined ? undefined : procUsage(natsPid);
    const finals = await Promise.all(
      workers.map((w) => {
        const f = w.next<WorkerFinal>('final', 120_000);
        w.send({ op: 'stop' });
        return f;
      }),
    );
    const sfP = server.next<ServerFinal>('final', 120_000);
    server.send({ op: 'stop' });
    const sf = await sfP;
    const result = summarise(spec, g, sf, server.pinned && gen.pinned && workers.every((w) => w.pinned));
    const pct = (cpuMs: number): number | null => round((100 * cpuMs) / g.wall_ms, 1);
    return {
      ...result,
      workers: js.workers,
      worker_cpu_pct: pct(finals.reduce((s, f) => s + f.self.cpu_ms, 0)),
      worker_enclave_cpu_pct: finals.every((f) => f.enclave) ? pct(finals.reduce((s, f) => s + f.enclave!.cpu_ms, 0)) : null,
      nats_cpu_pct: nats0 && nats1 ? pct(nats1.cpu_ms - nats0.cpu_ms) : null,
      worker_files: finals.map((f) => f.files),
      cpu_ms_per_file: {
        ...result.cpu_ms_per_file,
        workers: perFile(finals.reduce((s, f) => s + f.self.cpu_ms, 0), g.files_sent),
        worker_enclaves: finals.every((f) => f.enclave) ? perFile(finals.reduce((s, f) => s + f.enclave!.cpu_ms, 0), g.files_sent) : null,
        nats: nats0 && nats1 ? perFile(nats1.cpu_ms - nats0.cpu_ms, g.files_sent) : null,
      },
    };
  } finally {
    // Dead before the streams go: nothing of the point may still be talking to the server.
    await Promise.all([gen, ...workers, server].map((c) => c?.kill()));
    // The deployment's streams go with the point, even when a child died: a shared server keeps nothing of it.
    const nc = await connectNats({ url: js.url, name: 'hrvault-bench-cleanup', tlsCaFile: '', tlsCertFile: '', tlsKeyFile: '' }).catch(() => undefined);
    if (nc) {
      await removeDeployment(nc, prefix).catch((err: unknown) => log(`  ${tag}: streams of ${prefix} not removed: ${String(err)}`));
      await nc.close();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Runs the load generator child against `ready` at `host` and returns its final report. */
async function generate(gen: BenchChild, spec: PointSpec, tag: string, log: (line: string) => void, ready: ServerReady, host: string, gateways: GeneratorConfig['gateways']): Promise<GeneratorFinal> {
  gen.on('progress', (m) => log(`  ${tag}: ${Number(m.elapsed_s).toFixed(0)} s, ${String(m.files_sent)} files sent, ${String(m.results_verified)} results verified, uploads ${Number(m.upload_lag_ms).toFixed(0)} ms behind the cut`));
  const drainMs = drainFor(spec.batchIntervalMs, spec.jetstream !== undefined);
  const finalP = gen.next<GeneratorFinal>('final', spec.durationMs + drainMs + 180_000);
  const config: GeneratorConfig = {
    mode: spec.mode,
    host,
    port: ready.port,
    hostFingerprint: ready.hostFingerprint,
    attestation: ready.attestation,
    clients: spec.clients,
    rate: spec.rate,
    batchIntervalMs: spec.batchIntervalMs,
    durationMs: spec.durationMs,
    drainMs,
    clientsPerGateway: spec.clientsPerGateway,
    bucketBytes: spec.bucketBytes,
    gateways,
  };
  gen.send({ op: 'start', config });
  return finalP;
}

/** Mean of each phase over the micro-batches, rounded to 0.1 ms. */
function phaseMeans(all: readonly BatchPhasesMs[]): BatchPhasesMs {
  return batchPhasesSchema.parse(Object.fromEntries(BATCH_PHASES.map((k) => [k, round(mean(all.map((p) => p[k])))])));
}

/** JetStream mode's latency bound: p99 from cut to verified result, in batch intervals (see summarise). */
export const JETSTREAM_E2E_INTERVALS = 2;

/**
 * How long the generator waits for the last results after its last upload (ms); it stops as soon as every result is
 * back, so a longer wait costs only when something is late. JetStream mode adds the slowest recovery the design has
 * short of a dead worker: a pull left unanswered is ended 10 s past its expiry and its files come back at once. A
 * result missing after that is lost, not late (the CI run of stop 17 counted 2 late results as missing).
 */
function drainFor(batchIntervalMs: number, jetstream: boolean): number {
  return Math.max(3 * batchIntervalMs, 5000) + (jetstream ? JETSTREAM_DRAIN_EXTRA_MS : 0);
}

/** JetStream mode's extra drain (ms): a pull's grace past its expiry (the worker's) plus a fetch and a host tick. */
const JETSTREAM_DRAIN_EXTRA_MS = 15_000;

/**
 * The point's figures from what the generator and the server reported. Without the server's report (a `--target`
 * server on another host) the micro-batch figures are null and stability is judged from the gateway side: every
 * result back, the 99th percentile within three batch intervals of its cut. In JetStream mode the backlog counts the
 * work stream too and the 99th percentile must stay within JETSTREAM_E2E_INTERVALS batch intervals.
 */
export function summarise(spec: PointSpec, g: GeneratorFinal, sf: ServerFinal | undefined, pinned: boolean): PointResult {
  // The first micro-batch warms up (JIT, first unseal, attestation in flight); left out when there are enough others.
  const all = sf?.batches ?? [];
  const batches = all.length >= 3 ? all.slice(1) : all;
  const ms = batches.map((b) => b.ms);
  const durS = spec.durationMs / 1000;
  const backlogEnd = all.map((b) => b.backlog_end);
  const growing = backlogGrows(backlogEnd, spec.clients);
  const wall = g.wall_ms;
  const pct = (cpu: number | undefined): number | null => (cpu === undefined ? null : round((100 * cpu) / wall, 1));
  const meanMs = mean(ms);
  const missing = g.files_sent - g.results_verified - g.results_rejected;
  const e2eP99 = percentile(g.e2e_ms, 99);
  // Uploads that fall behind their cuts deliver less than the offered load: the ingress (or the generator, see its CPU
  // share) did not keep up, and the server's figures are for a smaller load than the point names.
  const keptUp = g.upload_lag_ms_max < spec.batchIntervalMs;
  // A result the gateway refuses, or one that never came back, is a failure of the point, whatever the timings.
  const allBack = missing === 0 && g.results_rejected === 0;
  // JetStream mode: the host's tick only publishes (its `ms` is not the analysis), so the work is judged where it ends:
  // the backlog (inboxes + work stream, sampled at every tick) does not grow, and the 99th percentile from cut to
  // verified result stays within two batch intervals (one interval of waiting for the host's tick, one for the rest:
  // workers' fetch and analysis, results stream, outbox, the gateway's poll). The host's tick must also fit its interval.
  const jsLatencyOk = spec.jetstream === undefined || e2eP99 <= JETSTREAM_E2E_INTERVALS * spec.batchIntervalMs;
  const stable = keptUp && allBack && jsLatencyOk && (sf ? isStable(meanMs, spec.batchIntervalMs, growing) : e2eP99 < 3 * spec.batchIntervalMs);
  // Per second of load actually delivered: the duration when every interval's uploads kept up (the last interval's
  // uploads end a little after the last cut, as they always do), else the time the uploads really took.
  const loadS = keptUp ? durS : Math.max(durS, g.load_ms / 1000);
  return {
    mode: spec.mode,
    clients: spec.clients,
    rate: spec.rate,
    batch_interval_s: spec.batchIntervalMs / 1000,
    duration_s: durS,
    batches: all.length,
    batch_ms_mean: round(meanMs),
    batch_ms_p50: round(percentile(ms, 50)),
    batch_ms_p99: round(percentile(ms, 99)),
    batch_ms_max: round(ms.length === 0 ? NaN : Math.max(...ms)),
    batch_phases_ms_mean: batches.length === 0 ? null : phaseMeans(batches.map((b) => b.phases_ms)),
    e2e_ms_p50: round(percentile(g.e2e_ms, 50)),
    e2e_ms_p99: round(e2eP99),
    beats_per_s: round(g.beats_in_results / loadS),
    bytes_per_s: round(g.bytes_sent / loadS, 0),
    data_bytes_per_s: round(g.data_bytes / loadS, 0),
    files_sent: g.files_sent,
    results_verified: g.results_verified,
    results_rejected: g.results_rejected,
    results_missing: missing,
    uploads_kept_up: keptUp,
    backlog_end: backlogEnd,
    backlog_growing: growing,
    skipped_ticks: sf?.skipped_ticks ?? 0,
    host_cpu_pct: pct(sf?.host.cpu_ms),
    host_rss_max_mb: sf ? round(sf.host.rss_max_mb) : null,
    enclave_cpu_pct: pct(sf?.enclave?.cpu_ms),
    enclave_rss_max_mb: sf?.enclave ? round(sf.enclave.rss_max_mb) : null,
    generator_cpu_pct: pct(g.self.cpu_ms),
    generator_rss_max_mb: round(g.self.rss_max_mb),
    upload_lag_ms_max: round(g.upload_lag_ms_max),
    pinned,
    first_error: g.first_error,
    stable,
    cpu_ms_per_file: {
      host: perFile(sf?.host.cpu_ms, g.files_sent),
      ...(sf?.enclave ? { enclave: perFile(sf.enclave.cpu_ms, g.files_sent) } : {}),
      generator: perFile(g.self.cpu_ms, g.files_sent),
    },
  };
}

/** CPU ms per file, to 0.001 ms; null without a figure or a file. */
function perFile(cpuMs: number | undefined, files: number): number | null {
  return cpuMs === undefined || files === 0 ? null : round(cpuMs / files, 3);
}
