/**
 * One measured point: a fresh server child (host + enclave, pinned to the server cores) and a load-generator child
 * (pinned to the client cores) for `clients` clients at `rate` beats/s each, for `durationMs`; then the figures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forkChild, type BenchChild } from './children.js';
import { makeIdentities, type Identities } from './identities.js';
import { HrvaultError } from '../../errors.js';
import { BATCH_PHASES, batchPhasesSchema, type BatchPhasesMs, type GeneratorConfig, type GeneratorFinal, type ServerFinal, type ServerReady, type TargetFile } from './protocol.js';
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
  /** With `--cpu-prof`: where each process's CPU time went (JSON only, not in the CSV). */
  profile?: Partial<Record<ProfiledProcess, ProfileSummary>>;
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
  const tag = `${spec.mode} ${spec.clients} clients × ${spec.rate}/s`;
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
      gen.kill();
    }
  }
  const ids = identitiesFor(nGw);
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
    server?.kill();
    gen?.kill();
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

/** Runs the load generator child against `ready` at `host` and returns its final report. */
async function generate(gen: BenchChild, spec: PointSpec, tag: string, log: (line: string) => void, ready: ServerReady, host: string, gateways: GeneratorConfig['gateways']): Promise<GeneratorFinal> {
  gen.on('progress', (m) => log(`  ${tag}: ${Number(m.elapsed_s).toFixed(0)} s, ${String(m.files_sent)} files sent, ${String(m.results_verified)} results verified, uploads ${Number(m.upload_lag_ms).toFixed(0)} ms behind the cut`));
  const drainMs = drainFor(spec.batchIntervalMs);
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

/** How long the generator waits for the last results after its last upload (ms). */
function drainFor(batchIntervalMs: number): number {
  return Math.max(3 * batchIntervalMs, 5000);
}

/**
 * The point's figures from what the generator and the server reported. Without the server's report (a `--target`
 * server on another host) the micro-batch figures are null and stability is judged from the gateway side: every
 * result back, the 99th percentile within three batch intervals of its cut.
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
  const stable = keptUp && allBack && (sf ? isStable(meanMs, spec.batchIntervalMs, growing) : e2eP99 < 3 * spec.batchIntervalMs);
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
  };
}
