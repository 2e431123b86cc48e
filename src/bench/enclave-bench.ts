/**
 * Enclave boundary micro-benchmark (`npm run bench -- --suite enclave`): what one micro-batch of N version-2 files
 * costs through the real enclave child process (spawnEnclave: IPC with structured-clone serialisation both ways,
 * then EnclaveCore inside), through the same EnclaveCore in this process (no IPC), through that core with its state
 * on tmpfs (so its fdatasync'd commit costs no disk wait), and through plain in-host analysis (HrvAnalyser, as
 * src/cloud's plain path does). Files are sealed with the gateway's own code (encodeBatchFile under GatewayEpochs),
 * one per patient per batch, the batches advancing each patient's sequence, and each batch acknowledges the previous
 * one's results as the host does. The paths take turns batch by batch so drift on a shared machine hits them alike.
 *
 * Derived splits: IPC and serialisation = enclave process − in-process core; durable commit wait = core on disk −
 * core on tmpfs. Wall and CPU time are both recorded (the child's CPU from /proc, at 10-ms resolution).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { decodePlainFile, encodePlainFile, generateHpkeKeyPair, generateSigningKeyPair, type EnvelopeHeader } from '../crypto/index.js';
import { computeMeasurement, EnclaveCore, HrvAnalyser, inputDigest, MEASURE_CADENCE_MS, spawnEnclave, type BatchFile, type EnclaveClient, type EnrolledGateway, type ResultAck } from '../enclave/index.js';
import { encodeBatchFile, GatewayEpochs, type BatchSealerOptions } from '../gateway/index.js';
import { rrCsv } from '../test-support/sealed-batches.js';
import { procUsage } from './pipeline/proc-usage.js';
import { mean, percentile } from './pipeline/stats.js';

/** One path's figures at one batch size: medians and means over the measured batches. */
export interface EnclaveBenchPath {
  /** Median wall time of one micro-batch, ms. */
  batch_ms: number;
  /** Mean wall time over the measured batches (one measure cadence cycle), ms. */
  batch_ms_mean: number;
  /** Median CPU time of one micro-batch, ms (host + enclave child where there is one). */
  cpu_ms: number;
  /** batch_ms per file, µs. */
  file_us: number;
  /** cpu_ms per file, µs. */
  cpu_file_us: number;
}

export interface EnclaveBenchSize {
  files: number;
  /** Unmeasured micro-batches first: at least one, and enough for 1,000 files, so the enclave child's JIT is warm too. */
  warmup_batches: number;
  /** Measured micro-batches per path (each patient's sequence numbers after the warm-up ones). */
  batches: number;
  enclave_process: EnclaveBenchPath;
  in_process_core: EnclaveBenchPath;
  /** The same core with its sealed state on tmpfs; absent when /dev/shm is not there. */
  in_process_core_tmpfs?: EnclaveBenchPath;
  plain: EnclaveBenchPath;
  /** Median over batches of (enclave process − in-process core): IPC and serialisation, ms (wall) and ms (CPU). */
  ipc_ms: number;
  ipc_cpu_ms: number;
  /** Median over batches of (core on disk − core on tmpfs): waiting for the commit's fdatasync, ms; null without tmpfs. */
  commit_wait_ms: number | null;
  /** Median over batches of (in-process core − plain): opening, sealing and committing, ms (wall). */
  security_ms: number;
}

export interface EnclaveBenchResult {
  node: string;
  cpus: number;
  load1: number;
  date: string;
  /** Bytes of one sealed file (a 10-s batch padded to the gateway's bucket). */
  file_bytes: number;
  /** Batch interval the files cover, ms. */
  file_span_ms: number;
  sizes: EnclaveBenchSize[];
  /** Sizes left out, and why. */
  skipped: { files: number; reason: string }[];
}

export interface EnclaveBenchOptions {
  /** Files per micro-batch (one per patient); default 100, 1,000 and 10,000. */
  sizes?: readonly number[];
  /** Measured batches per size; default one measure cadence cycle (6 files per patient at 10-s batches). */
  batches?: number;
  /**
   * A size above 1,000 files whose estimated run (from the previous size's, scaled by files and batches) exceeds this
   * is skipped, s (default 60); 100 and 1,000 files always run.
   */
  budgetS?: number;
  log?: (line: string) => void;
}

const GATEWAY = 'gw-bench';
const SPAN_MS = 10_000;
/** The gateway's size buckets (src/config.ts's defaults up to 8 KiB: a 10-s batch never needs more). */
const BUCKETS = [1024, 2048, 4096, 8192];
/** Batch sizes up to this many files run whatever the budget. */
const ALWAYS_RUN_FILES = 1000;
/** Files each path analyses before its batches are timed. */
const WARMUP_FILES = 1000;

/** Unmeasured batches of `files` files: the child process starts cold while this one may have run other suites. */
const warmupBatches = (files: number): number => Math.max(1, Math.ceil(WARMUP_FILES / files));

interface Timed {
  wall: number;
  cpu: number;
}

/** Wall and CPU time (ms) of `fn`, the CPU of this process plus that of `childPid` when given. */
async function timed(fn: () => Promise<unknown> | unknown, childPid?: number): Promise<Timed> {
  const c0 = childPid === undefined ? 0 : (procUsage(childPid)?.cpu_ms ?? 0);
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const u = process.cpuUsage(u0);
  const c1 = childPid === undefined ? 0 : (procUsage(childPid)?.cpu_ms ?? 0);
  return { wall, cpu: (u.user + u.system) / 1000 + (c1 - c0) };
}

const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

function summary(ts: readonly Timed[], files: number): EnclaveBenchPath {
  const wall = percentile(ts.map((t) => t.wall), 50);
  const cpu = percentile(ts.map((t) => t.cpu), 50);
  return { batch_ms: round(wall), batch_ms_mean: round(mean(ts.map((t) => t.wall))), cpu_ms: round(cpu), file_us: round((wall * 1000) / files, 1), cpu_file_us: round((cpu * 1000) / files, 1) };
}

/** Beats of patient p's batch `seq` (10 s each, 55–95 bpm with respiratory sway). */
function beatsOf(p: number, seq: number): { t: number; r: number }[] {
  const t0 = (seq - 1) * SPAN_MS;
  return rrCsv(t0, t0 + SPAN_MS, 55 + (p % 41)).values.map((v) => {
    const [t, r] = v.split(',');
    return { t: Number(t), r: Number(r) };
  });
}

/** A sealer for one enclave key: version-2 files under epochs of its own (one GatewayEpochs per key, as one gateway per attested enclave). */
function sealerFor(dir: string, signing: Uint8Array, enclaveKey: Uint8Array): (p: number, seq: number) => BatchFile {
  const o: BatchSealerOptions = { gatewayId: GATEWAY, mode: 'secure', signingPrivateKey: signing, bucketBytes: BUCKETS, epochs: GatewayEpochs.open(dir, GATEWAY, signing) };
  return (p, seq) => {
    const f = encodeBatchFile(o, { pseudonym: `p${p}`, seq, tStartMs: (seq - 1) * SPAN_MS, tEndMs: seq * SPAN_MS, beats: beatsOf(p, seq) }, enclaveKey);
    return { name: f.name, bytes: f.bytes };
  };
}

/**
 * Plain in-host analysis of one micro-batch, as src/cloud's plain path does it: decode, classify, analyse, encode the
 * result, hold it; the results are acknowledged at once (the host made them durable). Throws on any file not new.
 */
function plainBatch(a: HrvAnalyser, files: readonly BatchFile[]): void {
  const acks: ResultAck[] = [];
  for (const f of files) {
    const { header, body } = decodePlainFile(f.bytes);
    const input = inputDigest(body);
    const c = a.classify(header, input);
    if (c.kind !== 'new') throw new Error(`plain path: ${f.name} classified ${c.kind}`);
    const r = a.analyse(header, Buffer.from(body.buffer, body.byteOffset, body.length).toString('utf8'), f.name, input);
    const rh: EnvelopeHeader = { ...header, kind: 'hrv-result', key_id: 'plain' };
    a.hold(header, encodePlainFile(rh, Buffer.from(JSON.stringify(r.result))));
    acks.push({ gateway: header.gateway, patient: header.patient, seq: header.seq });
  }
  for (const x of acks) a.acknowledge(x);
}

interface Secure {
  run(files: BatchFile[], written: ResultAck[]): Promise<{ results: ResultAck[]; rejected: { name: string; reason: string }[] }> | { results: ResultAck[]; rejected: { name: string; reason: string }[] };
  pid?: number;
}

/** Runs one batch size through every path; the paths' state (sequence numbers, windows) starts fresh. */
async function runSize(files: number, batches: number, root: string, log: (line: string) => void): Promise<{ size: EnclaveBenchSize; fileBytes: number }> {
  const warmup = warmupBatches(files);
  const dir = mkdtempSync(join(root, `n${files}-`));
  const signing = generateSigningKeyPair();
  const gw: EnrolledGateway = { id: GATEWAY, signingPublicKey: signing.publicKey, hpkePublicKey: generateHpkeKeyPair().publicKey };
  const platformPrivateKey = generateSigningKeyPair().privateKey;
  const shmRoot = process.platform === 'linux' ? '/dev/shm' : undefined;
  const shmDir = shmRoot ? mkdtempSync(join(shmRoot, 'hrv-enclave-bench-')) : undefined;
  let child: EnclaveClient | undefined;
  try {
    child = await spawnEnclave({ dataDir: join(dir, 'enclave'), platformKeyFile: join(dir, 'platform.key'), enrolledGateways: [gw], restart: false, callTimeoutMs: 600_000 });
    const measurement = computeMeasurement();
    mkdirSync(join(dir, 'core'), { mode: 0o700 });
    const core = new EnclaveCore({ dataDir: join(dir, 'core'), platformPrivateKey, measurement, enrolledGateways: [gw] });
    const coreShm = shmDir === undefined ? undefined : new EnclaveCore({ dataDir: shmDir, platformPrivateKey, measurement, enrolledGateways: [gw] });
    const childClient = child;
    const check = (what: string, o: { rejected: { name: string; reason: string }[]; results: unknown[] }): void => {
      if (o.rejected.length > 0) throw new Error(`${what}: ${o.rejected.length} files rejected (${o.rejected[0]!.name}: ${o.rejected[0]!.reason})`);
      if (o.results.length !== files) throw new Error(`${what}: ${o.results.length} results for ${files} files`);
    };
    const secure: { name: 'enclave_process' | 'in_process_core' | 'in_process_core_tmpfs'; seal: (p: number, seq: number) => BatchFile; path: Secure; acks: ResultAck[]; times: Timed[] }[] = [
      { name: 'enclave_process', seal: sealerFor(join(dir, 'epochs-child'), signing.privateKey, child.publicKey), path: { run: (f, w) => childClient.processBatch(f, w), pid: child.pid }, acks: [], times: [] },
      { name: 'in_process_core', seal: sealerFor(join(dir, 'epochs-core'), signing.privateKey, core.publicKey), path: { run: (f, w) => core.processBatch(f, w) }, acks: [], times: [] },
    ];
    if (coreShm) secure.push({ name: 'in_process_core_tmpfs', seal: sealerFor(join(dir, 'epochs-shm'), signing.privateKey, coreShm.publicKey), path: { run: (f, w) => coreShm.processBatch(f, w) }, acks: [], times: [] });
    const plain = new HrvAnalyser();
    const plainTimes: Timed[] = [];
    const plainSealer = { gatewayId: GATEWAY, mode: 'plain' as const, signingPrivateKey: signing.privateKey, bucketBytes: BUCKETS };
    let fileBytes = 0;
    for (let b = 1 - warmup; b <= batches; b++) {
      const seq = b + warmup;
      const walls: string[] = [];
      for (const s of secure) {
        const batch = Array.from({ length: files }, (_, p) => s.seal(p, seq));
        fileBytes = batch[0]!.bytes.length;
        let out: Awaited<ReturnType<Secure['run']>> | undefined;
        const t = await timed(async () => {
          out = await s.path.run(batch, s.acks);
        }, s.path.pid);
        check(s.name, out!);
        s.acks = out!.results.map((r) => ({ gateway: r.gateway, patient: r.patient, seq: r.seq }));
        if (b > 0) s.times.push(t);
        walls.push(`${s.name} ${Math.round(t.wall)} ms`);
      }
      const plainFiles = Array.from({ length: files }, (_, p) => {
        const f = encodeBatchFile(plainSealer, { pseudonym: `p${p}`, seq, tStartMs: (seq - 1) * SPAN_MS, tEndMs: seq * SPAN_MS, beats: beatsOf(p, seq) }, undefined);
        return { name: f.name, bytes: f.bytes };
      });
      const t = await timed(() => plainBatch(plain, plainFiles));
      if (b > 0) plainTimes.push(t);
      log(`enclave bench, ${files} files, batch ${b}${b <= 0 ? ' (warm-up)' : ''}: ${walls.join(', ')}, plain ${Math.round(t.wall)} ms`);
    }
    const [proc, inProc, shm] = secure;
    const diff = (a: Timed[], b: Timed[], k: keyof Timed): number => round(percentile(a.map((x, i) => x[k] - b[i]![k]), 50));
    const size: EnclaveBenchSize = {
      files,
      warmup_batches: warmup,
      batches,
      enclave_process: summary(proc!.times, files),
      in_process_core: summary(inProc!.times, files),
      ...(shm ? { in_process_core_tmpfs: summary(shm.times, files) } : {}),
      plain: summary(plainTimes, files),
      ipc_ms: diff(proc!.times, inProc!.times, 'wall'),
      ipc_cpu_ms: diff(proc!.times, inProc!.times, 'cpu'),
      commit_wait_ms: shm ? diff(inProc!.times, shm.times, 'wall') : null,
      security_ms: diff(inProc!.times, plainTimes, 'wall'),
    };
    return { size, fileBytes };
  } finally {
    await child?.close();
    rmSync(dir, { recursive: true, force: true });
    if (shmDir) rmSync(shmDir, { recursive: true, force: true });
  }
}

/** Runs the suite; sizes in files per micro-batch, each measured over `batches` batches after its warm-up batches. */
export async function runEnclaveBench(o: EnclaveBenchOptions = {}): Promise<EnclaveBenchResult> {
  const log = o.log ?? (() => undefined);
  const sizes = o.sizes ?? [100, 1000, 10_000];
  const batches = o.batches ?? Math.round(MEASURE_CADENCE_MS / SPAN_MS);
  const budgetS = o.budgetS ?? 60;
  const root = mkdtempSync(join(tmpdir(), 'hrv-enclave-bench-'));
  const out: EnclaveBenchResult = { node: process.version, cpus: cpus().length, load1: round(loadavg()[0]!, 1), date: new Date().toISOString(), file_bytes: 0, file_span_ms: SPAN_MS, sizes: [], skipped: [] };
  try {
    let last: { files: number; batches: number; s: number } | undefined;
    for (const files of sizes) {
      const estimate = last ? ((last.s / (last.files * last.batches)) * files * (warmupBatches(files) + batches)) : 0;
      if (files > ALWAYS_RUN_FILES && estimate > budgetS) {
        const reason = `estimated ${Math.round(estimate)} s from the ${last!.files}-file run, over the ${budgetS}-s budget`;
        log(`enclave bench: ${files} files skipped: ${reason}`);
        out.skipped.push({ files, reason });
        continue;
      }
      const t0 = performance.now();
      const r = await runSize(files, batches, root, log);
      out.sizes.push(r.size);
      out.file_bytes = r.fileBytes;
      last = { files, batches: r.size.warmup_batches + batches, s: (performance.now() - t0) / 1000 };
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return out;
}

/** The suite's table: per batch ms and per file µs for each path, and the derived splits. */
export function formatEnclaveBench(r: EnclaveBenchResult): string {
  const lines = [`enclave boundary bench: node ${r.node}, ${r.cpus} CPUs, load ${r.load1}, ${r.file_bytes}-byte sealed files (${r.file_span_ms / 1000}-s batches); wall ms per batch (median) / µs per file; CPU ms per batch`];
  for (const s of r.sizes) {
    lines.push(`${s.files} files per batch, median of ${s.batches} batches after ${s.warmup_batches} warm-up:`);
    const paths: [string, EnclaveBenchPath | undefined][] = [
      ['enclave process (IPC + core)', s.enclave_process],
      ['in-process EnclaveCore', s.in_process_core],
      ['in-process EnclaveCore, state on tmpfs', s.in_process_core_tmpfs],
      ['plain in-host HrvAnalyser', s.plain],
    ];
    for (const [name, p] of paths) if (p) lines.push(`  ${name.padEnd(40)} ${p.batch_ms.toFixed(1).padStart(9)} ms  ${p.file_us.toFixed(1).padStart(8)} µs/file  CPU ${p.cpu_ms.toFixed(1).padStart(9)} ms`);
    lines.push(`  IPC + serialisation ${s.ipc_ms.toFixed(1)} ms (CPU ${s.ipc_cpu_ms.toFixed(1)} ms); commit wait ${s.commit_wait_ms === null ? '–' : `${s.commit_wait_ms.toFixed(1)} ms`}; open + seal + commit over plain ${s.security_ms.toFixed(1)} ms`);
  }
  for (const k of r.skipped) lines.push(`${k.files} files per batch: skipped (${k.reason})`);
  return lines.join('\n');
}
