/**
 * The untrusted cloud host: SFTP ingress, the encrypted file store, and the micro-batch scheduler that
 * hands each interval's arrivals to the enclave (secure mode) or analyses them in-host (plain mode, the
 * evaluation baseline). In secure mode it holds no key that opens patient data; what it writes under
 * cloud/ is ciphertext, quotes, and rejection reasons that quote no values. In JetStream mode (`jetstream` option,
 * jetstream-host.ts) there is no enclave in the host: the micro-batch publishes its files to the work stream for the
 * enclave workers, and their results come back from the results stream.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { decodePlainFile, encodePlainFile, readEnvelopeHeader, type EnvelopeHeader } from '../crypto/index.js';
import { encodeResultBundle } from '../contracts/index.js';
import type { EnclaveClient, ResultAck } from '../enclave/index.js';
import { HrvAnalyser, inputDigest } from '../enclave/index.js';
import { failpoint } from '../failpoints/index.js';
import { writeFileDurableAsync } from '../durable-file.js';
import { ConfigError, HrvaultError, type ErrorCode } from '../errors.js';
import { fileAway, inputTag, readDoneManifests, writeDoneManifest, type DoneInput, type DoneManifest } from './filing.js';
import { openJetstreamHost, parseJetstreamHostOptions, type CloudJetstreamOptions, type JetstreamHost } from './jetstream-host.js';
import { isTempName } from './paths.js';
import { DEFAULT_RETENTION, sweepRetention, type RetentionPolicy, type SweepResult } from './retention.js';
import { areaDir, startSftpServer, type SftpGateway, type SftpLimitKind, type SftpLimits } from './sftp-server.js';

export { areaDir };

export { resolveVirtualPath, isTempName, FILE_NAME, SftpPathError } from './paths.js';
export { loadHostKey, SftpSizeError, SftpLimitError, DEFAULT_SFTP_LIMITS, type SftpGateway, type SftpLimits, type SftpLimitKind } from './sftp-server.js';
export { DEFAULT_RETENTION, type RetentionPolicy, type SweepResult } from './retention.js';
export { readOutboxResults, outboxBundles } from './outbox-read.js';
export type { CloudJetstreamOptions } from './jetstream-host.js';

/** A fresh bundle name: never one an earlier micro-batch (of this or an earlier host process) used. */
function bundleName(): string {
  return `results-${Date.now()}-${randomBytes(8).toString('hex')}.bundle`;
}

/** Writes one result bundle into `gateway`'s outbox under a fresh name: temp, one fdatasync, rename, one directory fsync. */
function writeResultBundle(root: string, gateway: string, results: { name: string; bytes: Uint8Array }[]): Promise<void> {
  return writeFileDurableAsync(join(areaDir(root, gateway, 'outbox'), bundleName()), encodeResultBundle(results), { dataOnly: true });
}

const ATTEST_REQ = /^attest-((?:[0-9a-f]{2}){16,64})\.req$/;
/** A micro-batch goes to the enclave in at most this many chunks of at least MIN_CHUNK_FILES files. */
const ENCLAVE_CHUNKS = 4;
const MIN_CHUNK_FILES = 16;
/** Inputs read per turn of the event loop (≈ 5 ms of blocking at most for small files). */
const READ_SLICE = 256;

function hashRoute(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export interface CloudOptions {
  /** The host's directory (the demo's `cloud/`): gateways/, store/, quarantine/, host key. */
  dataDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Default `<dataDir>/host_key` (generated on first start). */
  hostKeyFile?: string;
  gateways: SftpGateway[];
  batchIntervalMs: number;
  mode: 'secure' | 'plain';
  /** Required in secure mode, unless `jetstream` is given. */
  enclave?: EnclaveClient;
  /**
   * JetStream mode (secure, no `enclave`): arrived files go to the work stream for the enclave workers, and their
   * results come back from the results stream (src/cloud/jetstream-host.ts). Files published, results and refusals
   * are in the stats; `reorderHoldMs` is the workers' setting then.
   */
  jetstream?: CloudJetstreamOptions;
  /**
   * Bounded reorder (ms): how long a file whose predecessor is missing waits in the inbox, so that a late predecessor
   * is still analysed first; after it the file is analysed with the gap flagged and the predecessor, if it comes,
   * is refused as late. Default 3 batch intervals, at least 5 s; 0 analyses at once.
   */
  reorderHoldMs?: number;
  /** Largest accepted upload (bytes); default 1 MiB. */
  maxUploadBytes?: number;
  /** SFTP resource bounds; missing fields take DEFAULT_SFTP_LIMITS. */
  sftpLimits?: Partial<SftpLimits>;
  /** Retention of abandoned temp uploads and quarantine entries; missing fields take DEFAULT_RETENTION. */
  retention?: Partial<RetentionPolicy>;
  /** Structured log sink (pino-style levels); receives names, codes and counts only. */
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/** One micro-batch as the host saw it. */
export interface BatchRecord {
  batch: number;
  started_ms: number;
  files: number;
  accepted: number;
  rejected: number;
  /** Beats analysed: plain mode only (0 in secure mode, where the host cannot know them). */
  beats: number;
  /** Files whose attempt failed (enclave lost, hung or unreachable): left in the inbox for the next micro-batch, not counted in `files`. */
  failed: number;
  /** Files held back for a missing predecessor (bounded reorder): left in the inbox, not counted in `files`. */
  deferred: number;
  /** Redelivered files that were already accepted: answered with their original result, not analysed again (counted in `files`). */
  duplicates: number;
  /** Processing time (ms): read, analyse (or hand to the enclave), write results, file away inputs. */
  ms: number;
  /** Files waiting in inboxes when the batch started. */
  backlog: number;
  /**
   * Host time (ms) by step: listing the inboxes, reading the inputs, analysing (plain), waiting for the enclave
   * (secure) or publishing to the work stream (JetStream), writing the results durably, filing the inputs away.
   * Secure-mode steps overlap with the enclave's work.
   */
  phases_ms: BatchPhases;
}

/** Where a micro-batch's host time went (ms), see BatchRecord.phases_ms. */
export interface BatchPhases {
  list: number;
  read: number;
  analyse: number;
  write: number;
  file: number;
  /** After the micro-batch (not in its `ms`): filing the inputs into store/ and quarantine/. Set when flush() returns. */
  background: number;
}

export interface RejectedFile {
  gateway: string | undefined;
  name: string;
  code: ErrorCode;
  reason: string;
}

export interface CloudStats {
  mode: 'secure' | 'plain';
  /** Files processed to an outcome (result, rejection); failed attempts are not counted. */
  files: number;
  /** Files of micro-batch chunks the enclave did not answer (each retried in a later micro-batch). */
  failed_files: number;
  /** Times a file was held back for a missing predecessor. */
  deferred_files: number;
  /** Redelivered files answered with their original result. */
  duplicates: number;
  batches: number;
  batch_ms: number[];
  /** Plain mode only (the host analyses): in secure mode 0, the host cannot know it; the gateway counts `beats_in_results`. */
  beats_analysed: number;
  results_written: number;
  /** Plain mode only, like `beats_analysed` (the gateway counts `alerts`). */
  alerts: number;
  /** Plain mode only, like `beats_analysed`. */
  gaps: number;
  rejected_files: RejectedFile[];
  quotes_served: number;
  skipped_ticks: number;
  /** Restarts of the enclave process by its supervisor (after an exit, a kill or a hang). */
  enclave_restarts: number;
  max_backlog: number;
  records: BatchRecord[];
  /** Connections, logins, sessions and handles the SFTP limits refused, and connections its timeouts ended. */
  sftp_refused: Record<SftpLimitKind, number>;
  /** Abandoned temp uploads (and host temp files) the retention sweep deleted. */
  swept_temp_files: number;
  /** Quarantine entries the retention sweep deleted. */
  swept_quarantine_entries: number;
  /** JetStream mode: files the work stream stored (first copies; also counted in `files`). */
  published: number;
  /** JetStream mode: files published again that the stream dropped as duplicates (a re-publish after a crash). */
  duplicates_published: number;
  /** JetStream mode: results-stream messages refused as malformed (terminated, never written). */
  bad_messages: number;
}

export interface CloudHandle {
  port: number;
  hostKeyFingerprint: string;
  stats(): CloudStats;
  /**
   * Runs one micro-batch now (or waits for the running one, then runs) and returns its record. `releaseHeld`: files
   * waiting for a missing predecessor are analysed now with the gap flagged (at the end of a run).
   */
  flush(opts?: { releaseHeld?: boolean }): Promise<BatchRecord>;
  /** Runs the retention sweep now (or waits for the running one, then runs) and returns what it deleted. */
  sweep(): Promise<SweepResult>;
  stop(): Promise<void>;
}

/** Starts the SFTP server and the micro-batch scheduler. */
export async function startCloud(opts: CloudOptions): Promise<CloudHandle> {
  if (opts.jetstream) {
    if (opts.mode !== 'secure') throw new ConfigError('JetStream mode is secure mode: the enclave workers analyse, never the host');
    if (opts.enclave) throw new ConfigError('JetStream mode has no enclave in the host: the enclave workers take the files from the work stream');
    if (opts.reorderHoldMs !== undefined) throw new ConfigError('reorderHoldMs is the enclave workers\' setting in JetStream mode');
  } else if (opts.mode === 'secure' && !opts.enclave) throw new ConfigError('secure mode needs an enclave (or JetStream mode)');
  const jsSettings = opts.jetstream ? parseJetstreamHostOptions(opts.jetstream) : undefined;
  if (!(opts.batchIntervalMs > 0)) throw new ConfigError(`batch interval must be positive (got ${opts.batchIntervalMs} ms)`);
  const root = opts.dataDir;
  const log = opts.log ?? (() => undefined);
  for (const d of ['gateways', 'store', 'quarantine', 'filing']) mkdirSync(join(root, d), { recursive: true });
  for (const g of opts.gateways) for (const d of ['store', 'quarantine']) mkdirSync(join(root, d, g.id), { recursive: true });
  const stats: CloudStats = {
    mode: opts.mode,
    files: 0,
    failed_files: 0,
    deferred_files: 0,
    duplicates: 0,
    batches: 0,
    batch_ms: [],
    beats_analysed: 0,
    results_written: 0,
    alerts: 0,
    gaps: 0,
    rejected_files: [],
    quotes_served: 0,
    skipped_ticks: 0,
    enclave_restarts: 0,
    max_backlog: 0,
    records: [],
    sftp_refused: { handles: 0, sessions: 0, connections_per_address: 0, connections_total: 0, auth_timeouts: 0, idle_timeouts: 0 },
    swept_temp_files: 0,
    swept_quarantine_entries: 0,
    published: 0,
    duplicates_published: 0,
    bad_messages: 0,
  };
  const retention: RetentionPolicy = { ...DEFAULT_RETENTION, ...opts.retention };
  for (const [k, v] of Object.entries(retention)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(`retention ${k} must be a positive integer of ms (got ${String(v)})`);
  }
  /** When each kind of limit was last logged: a flood of refusals is counted in full but logged at most once a minute per kind. */
  const limitLogged = new Map<SftpLimitKind, number>();
  const recordReject = (r: RejectedFile): void => {
    stats.rejected_files.push(r);
    log('warn', 'file rejected', { gateway: r.gateway, name: r.name, code: r.code, reason: r.reason });
  };
  const plain = opts.mode === 'plain' ? new HrvAnalyser() : undefined;
  const enclave = opts.enclave;
  /** Hands files to the enclave; its client supervises the process (watchdog, restart), so a failure here costs one attempt. */
  const toEnclave = (files: { name: string; bytes: Uint8Array }[], acks: ResultAck[]): ReturnType<EnclaveClient['processBatch']> => enclave!.processBatch(files, acks);
  /**
   * Bounded reorder: when each waiting file was first held back for a missing predecessor. After `reorderHoldMs` it
   * goes to the enclave marked `release` and is analysed with the gap flagged. In memory: a restarted host holds anew.
   */
  const deferredSince = new Map<string, number>();
  const reorderHoldMs = opts.reorderHoldMs ?? Math.max(3 * opts.batchIntervalMs, 5000);
  let releasing = false;
  const released = (gateway: string, name: string): boolean => {
    if (releasing) return true;
    const since = deferredSince.get(`${gateway}/${name}`);
    return reorderHoldMs === 0 || (since !== undefined && Date.now() - since >= reorderHoldMs);
  };

  /** Results written durably whose acknowledgement the enclave has not yet received (lost in a crash: then it holds them a while longer). */
  const unacked: ResultAck[] = [];
  let filing: Promise<void> = Promise.resolve();
  const jsHost: JetstreamHost | undefined =
    opts.jetstream && jsSettings
      ? await openJetstreamHost(opts.jetstream, jsSettings, {
          root,
          gateways: new Set(opts.gateways.map((g) => g.id)),
          log,
          stats,
          recordReject,
          writeBundle: (gw, results) => writeResultBundle(root, gw, results),
          afterFiling: (fn) => {
            const p = filing.then(fn);
            filing = p.then(
              () => undefined,
              () => undefined,
            );
            return p;
          },
        })
      : undefined;
  /** Where quotes come from: the supervised enclave, or any enclave worker over NATS; plain mode has none. */
  const quoteSource: ((nonce: Uint8Array) => Promise<unknown>) | undefined = jsHost ? jsHost.quote : enclave ? (nonce) => enclave.quote(nonce) : undefined;

  const quoting = new Set<string>();
  const serveQuote = async (gateway: string, name: string): Promise<void> => {
    const m = ATTEST_REQ.exec(name);
    if (!m || quoting.has(`${gateway}/${name}`)) return;
    quoting.add(`${gateway}/${name}`);
    const reqFile = join(areaDir(root, gateway, 'inbox'), name);
    try {
      if (!quoteSource) throw new HrvaultError('HRV_ERR_ENCLAVE', 'plain mode has no enclave to attest');
      const quote = await quoteSource(new Uint8Array(Buffer.from(m[1]!, 'hex')));
      await writeFileDurableAsync(join(areaDir(root, gateway, 'outbox'), `attest-${m[1]}.quote`), Buffer.from(JSON.stringify(quote)));
      stats.quotes_served++;
      log('info', 'quote served', { gateway });
    } catch (err) {
      log('error', 'quote failed', { gateway, error: err instanceof Error ? err.message : String(err) });
    } finally {
      await unlink(reqFile).catch(() => undefined);
      quoting.delete(`${gateway}/${name}`);
    }
  };

  const writing = new Set<string>();
  const sftp = await startSftpServer({
    root,
    writing,
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? 0,
    hostKeyFile: opts.hostKeyFile ?? join(root, 'host_key'),
    gateways: opts.gateways,
    maxUploadBytes: opts.maxUploadBytes ?? 1024 * 1024,
    onUpload: (gateway, name) => {
      if (ATTEST_REQ.test(name)) void serveQuote(gateway, name);
    },
    onReject: (gateway, name, err) => recordReject({ gateway, name, code: err.code, reason: err.message }),
    onLimit: (gateway, remote, err) => {
      stats.sftp_refused[err.kind]++;
      const now = Date.now();
      if (now - (limitLogged.get(err.kind) ?? -Infinity) < 60_000) return;
      limitLogged.set(err.kind, now);
      log('warn', 'sftp limit', { kind: err.kind, gateway, remote, code: err.code, reason: err.message, refused_so_far: stats.sftp_refused[err.kind] });
    },
    ...(opts.sftpLimits === undefined ? {} : { limits: opts.sftpLimits }),
  });

  let sweeping: Promise<SweepResult> | undefined;
  const sweep = (): Promise<SweepResult> => {
    const p = (sweeping ?? Promise.resolve(undefined))
      .catch(() => undefined)
      .then(() => sweepRetention({ root, gateways: opts.gateways.map((g) => g.id), isWriting: (gw, name) => writing.has(`${gw}/${name}`), policy: retention, now: Date.now() }))
      .then((r) => {
        stats.swept_temp_files += r.temp_files;
        stats.swept_quarantine_entries += r.quarantine_entries;
        if (r.temp_files + r.quarantine_entries > 0) log('info', 'retention sweep', { ...r });
        return r;
      });
    const mine = p.finally(() => {
      if (sweeping === mine) sweeping = undefined;
    });
    sweeping = mine;
    return mine;
  };
  const sweepFailed = (err: unknown): void => log('error', 'retention sweep failed', { error: err instanceof Error ? err.message : String(err) });
  // Once at start (what a crash left behind), then periodically.
  sweep().catch(sweepFailed);
  const sweepTimer = setInterval(() => {
    if (!sweeping) sweep().catch(sweepFailed);
  }, retention.sweepIntervalMs);
  sweepTimer.unref();

  /**
   * Done manifests whose inputs are not filed away yet (commit point C3 passed, the renames not done): their inputs
   * are settled and never handed to the enclave again. Filed after each micro-batch, off its critical path; one that
   * failed (a full disk) is tried again before the next micro-batch lists the inboxes.
   */
  const unfiled = new Map<string, DoneManifest>();
  const settledInputs = new Set<string>();
  /** Files every waiting manifest's inputs away; never rejects (a failure is logged and tried again later). */
  const fileWaiting = (checkDigest: boolean): Promise<void> => {
    filing = filing.then(async () => {
      for (const [file, manifest] of [...unfiled]) {
        try {
          const r = await fileAway(root, file, manifest, checkDigest);
          if (checkDigest && r.gone + r.changed + r.stored + r.quarantined > 0) log('info', 'inputs of a committed micro-batch filed at start-up', { ...r });
          if (r.changed > 0) log('warn', 'an input changed under the name a committed micro-batch filed; it waits for a micro-batch', { changed: r.changed });
          unfiled.delete(file);
          for (const f of manifest.inputs) settledInputs.delete(`${f.gateway}/${f.name}`);
        } catch (err) {
          log('error', 'filing inputs away failed; tried again before the next micro-batch', { error: err instanceof Error ? err.message : String(err) });
          return;
        }
      }
    });
    return filing;
  };
  const waitFor = (file: string, manifest: DoneManifest): void => {
    unfiled.set(file, manifest);
    for (const f of manifest.inputs) settledInputs.add(`${f.gateway}/${f.name}`);
  };
  /**
   * Commit point C3 (J1 in JetStream mode): one durable done manifest names every input settled (result durable,
   * refused, or held by the work stream) and the acknowledgements owed; the inputs are filed away after it.
   */
  const commitInputs = async (inputs: DoneInput[], acks: ResultAck[]): Promise<void> => {
    if (inputs.length === 0) return;
    const manifest: DoneManifest = { v: 1, inputs, acks };
    const file = await writeDoneManifest(root, manifest, `${Date.now()}-${randomBytes(8).toString('hex')}`);
    waitFor(file, manifest);
    failpoint('cloud.after-inputs-done');
    for (const f of inputs) if (f.reject) recordReject({ gateway: f.gateway, name: f.name, code: f.reject.code, reason: f.reject.reason });
  };
  // What a crash left between a micro-batch's commit and its filing: finished now, and the acknowledgements of those
  // results (lost with the crashed process) go to the enclave with the next call.
  {
    const left = await readDoneManifests(root);
    for (const b of left.bad) {
      // Written by this host atomically, so only a damaged disk makes one: its inputs, if still in the inbox, go
      // through a micro-batch again and the enclave answers them from its receipts.
      log('error', 'done manifest unreadable: moved aside', { file: b.file, error: b.error });
      await rename(b.file, `${b.file}.bad`);
    }
    for (const g of left.good) {
      waitFor(g.file, g.manifest);
      unacked.push(...g.manifest.acks);
    }
    await fileWaiting(true);
  }

  const pending = async (): Promise<{ gateway: string; name: string }[]> => {
    const out: { gateway: string; name: string }[] = [];
    for (const g of opts.gateways) {
      for (const name of (await readdir(areaDir(root, g.id, 'inbox'))).sort()) {
        if (isTempName(name) || writing.has(`${g.id}/${name}`) || settledInputs.has(`${g.id}/${name}`)) continue;
        if (ATTEST_REQ.test(name)) {
          void serveQuote(g.id, name);
          continue;
        }
        out.push({ gateway: g.id, name });
      }
    }
    return out;
  };

  let batchNo = 0;
  /** The last micro-batch's filing, with its log line: flush() returns after it. */
  let lastFiled: Promise<void> = Promise.resolve();
  /** `releaseAll`: files held for a missing predecessor are released now (the end of a run: nothing more will come). */
  const runBatch = async (releaseAll: boolean): Promise<BatchRecord> => {
    releasing = releaseAll;
    try {
      return await runOneBatch();
    } finally {
      releasing = false;
    }
  };
  const runOneBatch = async (): Promise<BatchRecord> => {
    // The previous micro-batch's filing (normally long done) and any filing that failed before.
    await fileWaiting(false);
    const started = performance.now();
    const startedMs = Date.now();
    const phases: BatchPhases = { list: 0, read: 0, analyse: 0, write: 0, file: 0, background: 0 };
    let mark = performance.now();
    /** Adds the time since the last mark to `phase`. */
    const lap = (phase: Exclude<keyof BatchPhases, 'background'>): void => {
      const now = performance.now();
      phases[phase] += now - mark;
      mark = now;
    };
    const items = await pending();
    lap('list');
    // Read synchronously in slices: a small file costs 15–20 µs so, against 150–200 µs through the thread pool (four
    // hops: open, stat, read, close); between slices the event loop serves the SFTP sessions.
    const files: { gateway: string; name: string; bytes: Uint8Array }[] = [];
    for (let i = 0; i < items.length; i += READ_SLICE) {
      if (i > 0) await new Promise<void>((r) => setImmediate(r));
      for (const it of items.slice(i, i + READ_SLICE)) {
        let bytes: Buffer;
        try {
          bytes = readFileSync(join(areaDir(root, it.gateway, 'inbox'), it.name));
        } catch {
          // A file that vanished since the listing (removed by its gateway) is simply not part of this batch.
          continue;
        }
        files.push({ ...it, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) });
      }
    }
    lap('read');
    const key = (gw: string, name: string): string => `${gw}/${name}`;
    let accepted = 0;
    let processed = files.length;
    let duplicates = 0;
    let deferredCount = 0;
    let beats = 0;
    let rejectedCount = 0;
    let resultsCount = 0;
    type File = (typeof files)[number];
    type Result = { gateway: string; name: string; bytes: Uint8Array; patient: string; seq: number };
    /** What the analysis made of one chunk of inputs: its results, its refusals, the inputs held back. */
    type Outcome = { chunk: File[]; results: Result[]; rejected: { key: string; code: ErrorCode; reason: string }[]; deferred: Set<string> };
    /**
     * Commits a micro-batch's outcomes: one result bundle per gateway (temp, one fdatasync, rename, one directory
     * fsync), then one done manifest naming the inputs it settled (to the store, or to quarantine) and the
     * acknowledgements owed; returns those acknowledgements. The inputs are moved after the micro-batch (fileWaiting);
     * deferred inputs stay in the inbox for the next one. Crash-safe at every instant: the manifest is written only
     * after the bundles holding its results are durable; before it, a retried input is answered by the enclave with the
     * result it already made (byte for byte) until it holds the acknowledgement; after it, the host files the input
     * itself (docs/pipeline.md, C2–C3b).
     */
    const commit = async (outcomes: Outcome[]): Promise<ResultAck[]> => {
      lap('analyse');
      // A file and its redelivery in the same micro-batch carry the same result: bundle it once.
      const byGateway = new Map<string, Map<string, Result>>();
      for (const r of outcomes.flatMap((o) => o.results)) (byGateway.get(r.gateway) ?? byGateway.set(r.gateway, new Map()).get(r.gateway)!).set(r.name, r);
      await Promise.all([...byGateway].map(([gw, results]) => writeResultBundle(root, gw, [...results.values()].map((r) => ({ name: r.name, bytes: r.bytes })))));
      failpoint('cloud.after-results-written');
      lap('write');
      for (const results of byGateway.values()) resultsCount += results.size;
      // C3: one durable manifest names every input this micro-batch settled (result durable, or refused), and the
      // acknowledgements owed for the results; the inputs themselves are filed away after the micro-batch.
      const acks = outcomes.flatMap((o) => o.results.map((r) => ({ gateway: r.gateway, patient: r.patient, seq: r.seq })));
      const inputs: DoneInput[] = [];
      for (const { chunk, rejected, deferred } of outcomes) {
        rejectedCount += rejected.length;
        const rejects = new Map(rejected.map((r) => [r.key, r]));
        for (const f of chunk) {
          const k = key(f.gateway, f.name);
          if (!deferred.has(k)) deferredSince.delete(k);
          else if (!deferredSince.has(k)) deferredSince.set(k, Date.now());
          if (deferred.has(k)) continue;
          const r = rejects.get(k);
          inputs.push({ gateway: f.gateway, name: f.name, digest: inputTag(f.bytes), ...(r ? { reject: { code: r.code, reason: r.reason } } : {}) });
        }
        deferredCount += deferred.size;
      }
      await commitInputs(inputs, acks);
      lap('file');
      return acks;
    };
    if (files.length > 0 && jsHost) {
      // JetStream mode: the files go to the work stream; their results come back through the results loop.
      const out = await jsHost.publish(files);
      lap('analyse');
      processed -= out.failed;
      try {
        // J1: the stream holds every input named here (or it was refused at once): filed away, never published again.
        await commitInputs(out.inputs, []);
        accepted += out.published;
        duplicates += out.duplicates;
        rejectedCount += out.rejected;
        stats.published += out.published;
        stats.duplicates_published += out.duplicates;
      } catch (err) {
        // No manifest: the inputs stay in the inbox and are published again next tick (duplicates the stream drops).
        log('error', 'committing published files failed; they are published again next tick', { files: out.inputs.length, error: err instanceof Error ? err.message : String(err) });
        processed -= out.inputs.length;
      }
      lap('file');
    } else if (files.length > 0 && plain) {
      const results: { gateway: string; name: string; bytes: Uint8Array; patient: string; seq: number }[] = [];
      const rejected: { key: string; code: ErrorCode; reason: string }[] = [];
      const deferredKeys = new Set<string>();
      for (const f of files) {
        try {
          const { header, body } = decodePlainFile(f.bytes);
          if (header.kind !== 'rr-batch') throw new HrvaultError('HRV_ERR_ENVELOPE_CONTENT', `expected an rr-batch file, got ${header.kind}`);
          if (header.gateway !== f.gateway) throw new HrvaultError('HRV_ERR_ENVELOPE_SIGNATURE', `file in ${f.gateway}'s inbox claims gateway '${header.gateway}'`);
          const input = inputDigest(body);
          const c = plain.classify(header, input, released(f.gateway, f.name));
          const name = `${header.patient}-${header.seq}.result`;
          if (c.kind === 'defer') {
            deferredKeys.add(key(f.gateway, f.name));
            continue;
          }
          if (c.kind === 'duplicate') {
            duplicates++;
            if (c.receipt.result) results.push({ gateway: f.gateway, name, bytes: c.receipt.result, patient: header.patient, seq: header.seq });
            continue;
          }
          const a = plain.analyse(header, Buffer.from(body.buffer, body.byteOffset, body.length).toString('utf8'), f.name, input);
          const rh: EnvelopeHeader = { ...header, kind: 'hrv-result', key_id: 'plain' };
          const bytes = encodePlainFile(rh, Buffer.from(JSON.stringify(a.result)));
          plain.hold(header, bytes);
          results.push({ gateway: f.gateway, name, bytes, patient: header.patient, seq: header.seq });
          accepted++;
          beats += a.beats;
          stats.alerts += a.alerts;
          if (a.gap > 0) stats.gaps++;
        } catch (err) {
          rejected.push({ key: key(f.gateway, f.name), code: err instanceof HrvaultError ? err.code : 'HRV_ERR_ENVELOPE_CONTENT', reason: err instanceof Error ? err.message : String(err) });
        }
      }
      // In-host analysis: the results are durable once commit returns, so the held copies go at once.
      for (const a of await commit([{ chunk: files, results, rejected, deferred: deferredKeys }])) plain.acknowledge(a);
    } else if (files.length > 0) {
      // Chunks by (gateway, patient) keep each patient's files together and in order; all chunks are sent at once,
      // so the host takes one chunk's reply while the enclave process works on the next (two cores); the results of
      // every chunk that came back are committed together, one bundle per gateway.
      const nChunks = Math.min(ENCLAVE_CHUNKS, Math.ceil(files.length / MIN_CHUNK_FILES));
      const chunks: File[][] = Array.from({ length: nChunks }, () => []);
      for (const f of files) {
        let route = f.name;
        try {
          const h = readEnvelopeHeader(f.bytes);
          route = `${h.gateway}/${h.patient}`;
        } catch {
          // Unreadable header: the enclave will reject it with the precise reason; any chunk will do.
        }
        chunks[hashRoute(route) % nChunks]!.push(f);
      }
      // Acknowledgements of results written earlier ride on the first chunk; if that call fails they are sent again.
      const acks = unacked.splice(0);
      const inFlight = chunks.map((chunk, i) => toEnclave(chunk.map((f) => ({ name: key(f.gateway, f.name), bytes: f.bytes, release: released(f.gateway, f.name) })), i === 0 ? acks : []));
      let failure: unknown;
      const outcomes: Outcome[] = [];
      let answered = { accepted: 0, duplicates: 0 };
      for (const [i, p] of inFlight.entries()) {
        try {
          const out = await p;
          failpoint('cloud.after-enclave-reply');
          // Counts of files only: the enclave tells the host nothing that depends on a patient's data (beats and
          // alerts are the gateway's figures, from the results it opens).
          answered = { accepted: answered.accepted + out.stats.accepted, duplicates: answered.duplicates + out.stats.duplicates };
          outcomes.push({ chunk: chunks[i]!, results: out.results, rejected: out.rejected.map((r) => ({ key: r.name, code: r.code, reason: r.reason })), deferred: new Set(out.deferred) });
        } catch (err) {
          // The chunk's files stay in the inbox and are retried next interval; they were not processed.
          if (i === 0) unacked.unshift(...acks);
          failure ??= err;
          processed -= chunks[i]!.length;
        }
      }
      if (outcomes.length > 0) {
        try {
          unacked.push(...(await commit(outcomes)));
          accepted += answered.accepted;
          duplicates += answered.duplicates;
        } catch (err) {
          // Nothing of these chunks left the inbox (or what did has its result durable): all are retried next
          // interval, and the enclave answers each from its receipt.
          failure ??= err;
          processed -= outcomes.reduce((n, o) => n + o.chunk.length, 0);
        }
      }
      if (failure) {
        log('error', 'enclave could not process part of a micro-batch; those files wait for the next one', {
          failed: files.length - processed,
          error: failure instanceof Error ? failure.message : String(failure),
        });
      }
    }
    const failed = files.length - processed;
    processed -= deferredCount;
    const rec: BatchRecord = { batch: ++batchNo, started_ms: startedMs, files: processed, failed, deferred: deferredCount, duplicates, accepted, rejected: rejectedCount, beats, ms: performance.now() - started, backlog: files.length, phases_ms: phases };
    stats.files += processed;
    stats.failed_files += failed;
    stats.duplicates += duplicates;
    stats.deferred_files += deferredCount;
    stats.beats_analysed += beats;
    stats.results_written += resultsCount;
    if (files.length > 0) {
      stats.batches++;
      stats.batch_ms.push(rec.ms);
      stats.records.push(rec);
      stats.max_backlog = Math.max(stats.max_backlog, files.length);
    }
    const filingFrom = performance.now();
    lastFiled = fileWaiting(false).then(() => {
      rec.phases_ms.background = performance.now() - filingFrom;
      if (files.length > 0) log('info', 'micro-batch', { batch: rec.batch, files: rec.files, failed, deferred: deferredCount, duplicates, accepted, rejected: rec.rejected, ms: Math.round(rec.ms * 10) / 10, filing_ms: Math.round(rec.phases_ms.background * 10) / 10 });
    });
    return rec;
  };

  // Results are written only once what a crash left is filed (above) and the outboxes exist (the SFTP server made them).
  jsHost?.startResults();

  let running: Promise<BatchRecord> | undefined;
  const schedule = (releaseAll = false): Promise<BatchRecord> => {
    const p = (running ?? Promise.resolve(undefined)).catch(() => undefined).then(() => runBatch(releaseAll));
    const mine = p.finally(() => {
      if (running === mine) running = undefined;
    });
    running = mine;
    return mine;
  };
  const timer = setInterval(() => {
    if (running) {
      stats.skipped_ticks++;
      return;
    }
    schedule().catch((err: unknown) => log('error', 'micro-batch failed', { error: err instanceof Error ? err.message : String(err) }));
  }, opts.batchIntervalMs);

  return {
    port: sftp.port,
    hostKeyFingerprint: sftp.hostKeyFingerprint,
    stats: () => ({ ...stats, enclave_restarts: enclave?.restarts ?? 0, batch_ms: [...stats.batch_ms], rejected_files: [...stats.rejected_files], records: [...stats.records], sftp_refused: { ...stats.sftp_refused } }),
    flush: async (o) => {
      const rec = await schedule(o?.releaseHeld === true);
      await lastFiled;
      return rec;
    },
    sweep,
    stop: async () => {
      clearInterval(timer);
      clearInterval(sweepTimer);
      await sweeping?.catch(() => undefined);
      await running?.catch(() => undefined);
      await jsHost?.stop();
      await lastFiled;
      await filing;
      await sftp.close();
    },
  };
}

const gatewaysSchema = z
  .array(z.strictObject({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'gateway id must be 1–64 of [A-Za-z0-9_-]'), sshPublicKey: z.string().min(1) }))
  .min(1, 'at least one gateway is needed');

/** Reads the cloud's gateway list ([{id, sshPublicKey}]); throws ConfigError naming the bad entry. */
export function loadCloudGateways(file: string): SftpGateway[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`gateways file ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const r = gatewaysSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ConfigError(`gateways file ${file}: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  return r.data;
}
