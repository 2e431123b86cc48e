/**
 * The host's handle on the enclave: forks `main` as a separate OS process (its own address space, unlike a
 * worker thread) and exchanges request/response messages with it over the IPC pipe, one message per
 * micro-batch. The handle supervises the process: every call has a watchdog deadline, a hung process is
 * killed, and an exited or killed one is restarted (same data dir: same sealed keys and state), counted and
 * logged. The call that was in flight fails, so the host keeps its files and retries them.
 *
 * In cluster mode (`cluster` option, for JetStream workers) the enclave keeps no patient state on disk: the worker
 * opens the partitions it owns from their sealed chains, gets a checkpoint piece per micro-batch to store, and after
 * a restart of the enclave (`onRestart`) opens its partitions again, since the new process holds none.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signingPublicKeyOf, type Quote } from '../crypto/index.js';
import { HrvaultError, type ErrorCode } from '../errors.js';
import type { BatchFile, BatchOutcome, EnrolledGateway, ResultAck } from './core.js';
import type { KeyPolicy } from './keyring.js';
import { computeMeasurement } from './measurement.js';
import type { ClusterKeys, PartitionChain, PartitionOpened, PartitionOutcome } from './partition-core.js';
import type { ProvisionRequest, ProvisionResponse } from './provisioning.js';
import { writeFileDurable } from './sealing.js';

/** The enclave process failed, exited, hung, or answered out of protocol. */
export class EnclaveError extends HrvaultError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'EnclaveError';
  }
}

/** Default watchdog deadline of one call to the enclave (ms): far above a micro-batch's cost on a loaded machine. */
export const DEFAULT_ENCLAVE_CALL_TIMEOUT_MS = 60_000;

export interface SpawnEnclaveOptions {
  /** Directory for the enclave's sealed keys and state (created if missing). */
  dataDir: string;
  /** The software backend's platform attestation key (32-byte Ed25519 seed); created if missing. */
  platformKeyFile: string;
  /** Gateways enrolled by the trusted operator. */
  enrolledGateways: EnrolledGateway[];
  /** Watchdog deadline of every call, start-up included (ms); past it the process counts as hung and is killed. */
  callTimeoutMs?: number;
  /** Watchdog deadline of the start-up call (ms; default 60 000): the first start compiles and unseals, slower than a call. */
  startTimeoutMs?: number;
  /** Restart the process after it exits, is killed or hangs (default true). */
  restart?: boolean;
  /**
   * Environment of the first process (default: this process's). Restarts get the same minus HRVAULT_FAILPOINTS,
   * so a failpoint a test armed fires once and the restarted enclave comes up clean.
   */
  env?: NodeJS.ProcessEnv;
  /** Key rotation and retention inside the enclave (default: never rotate). */
  keyPolicy?: KeyPolicy;
  /** Extra Node flags of the enclave process (the benchmark's `--cpu-prof`); none by default. */
  nodeArgs?: readonly string[];
  /** Log sink for supervision events (restarts, watchdog kills); receives no data, only pids and reasons. */
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /**
   * Cluster mode (JetStream workers): patient state per partition, checkpointed through the host as sealed pieces;
   * keys from the cluster secrets in `<dataDir>/cluster.sealed` (absent: none until `bootstrapCluster` or
   * provisioning). Key rotation is not available in this mode (see cluster-secrets.ts).
   */
  cluster?: {
    partitions: number;
    /**
     * Whose quotes the enclave accepts when the cluster secrets are handed over, either way (default: this
     * platform key, this build's measurement, software quotes allowed: development only).
     */
    trust?: { platformPublicKeys: Uint8Array[]; allowedMeasurements: string[]; allowSoftwareQuotes: boolean };
  };
  /**
   * Called once a restarted enclave process is up (`restarts` counts them). In cluster mode it holds no open
   * partition: calls for one are refused (HRV_ERR_PARTITION) until the worker has opened it again from its chain.
   */
  onRestart?: (restarts: number) => void;
}

export interface EnclaveClient {
  /** The current enclave process's pid (changes on restart). */
  readonly pid: number;
  /** How many times the process was restarted after an exit, kill or hang. */
  readonly restarts: number;
  /**
   * The enclave's X25519 HPKE public key at start (with key rotation on, a quote names the current one). In cluster
   * mode the cluster's key, once the secrets are held; reading the keys before that throws HRV_ERR_ENCLAVE.
   */
  readonly publicKey: Uint8Array;
  /** The enclave's Ed25519 key that signs results. */
  readonly signingPublicKey: Uint8Array;
  readonly keyId: string;
  readonly measurement: string;
  /** A quote for `nonce` (16–64 bytes). */
  quote(nonce: Uint8Array): Promise<Quote>;
  /**
   * Hands one micro-batch of sealed files to the enclave; `written` names the results of earlier batches the
   * host has made durable (the enclave then stops holding their bytes).
   */
  processBatch(files: BatchFile[], written?: ResultAck[]): Promise<BatchOutcome>;
  /** Stops the enclave process (no restart after this). */
  close(): Promise<void>;
}

/** The handle spawnEnclave returns: an EnclaveClient, plus the cluster-mode calls (refused by an embedded enclave). */
export interface ClusterEnclaveClient extends EnclaveClient {
  /** Cluster mode: whether the enclave holds the cluster secrets (always true in embedded mode). */
  readonly clusterReady: boolean;
  /** Cluster mode: makes the cluster's secrets in this enclave (first worker of a new cluster); refused if it holds some. */
  bootstrapCluster(): Promise<ClusterKeys>;
  /** Cluster mode, a worker without the secrets: a request for them, to relay to a worker that has them. */
  provisionRequest(): Promise<ProvisionRequest>;
  /** Cluster mode: installs the secrets from a relayed answer to our last request (checked inside: attested, sealed to us). */
  provisionAccept(response: unknown): Promise<ClusterKeys>;
  /** Cluster mode, a worker with the secrets: seals them to a relayed, attested request. */
  provisionAnswer(request: unknown): Promise<ProvisionResponse>;
  /** Cluster mode: (re-)opens `partition` from its committed chain (see partition-core.ts). */
  openPartition(partition: number, chain: PartitionChain): Promise<PartitionOpened>;
  /**
   * Cluster mode: one micro-batch of `partition`. The caller stores the returned checkpoint piece before it releases
   * the results, or closes the partition and re-opens it from what it stored.
   */
  processPartition(partition: number, files: BatchFile[], written?: ResultAck[]): Promise<PartitionOutcome>;
  /** Cluster mode: drops `partition`'s state from the enclave (lease lost, piece not stored); true if it was open. */
  closePartition(partition: number): Promise<boolean>;
}

/** Loads the platform key's public half from `file`, creating a fresh key there (mode 0600) if missing. */
export function ensurePlatformKey(file: string): Uint8Array {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileDurable(file, randomBytes(32));
  }
  const seed = readFileSync(file);
  if (seed.length !== 32) throw new HrvaultError('HRV_ERR_CONFIG', `platform key ${file} must be a 32-byte Ed25519 seed`);
  return signingPublicKeyOf(new Uint8Array(seed));
}

function mainModule(): { file: string; execArgv: string[]; cwd: string } {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith('.ts');
  const dir = dirname(here);
  // Source checkouts run through tsx; the built package runs dist/enclave/main.js directly.
  return { file: join(dir, ts ? 'main.ts' : 'main.js'), execArgv: ts ? ['--import', 'tsx'] : [], cwd: join(dir, '..', '..') };
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** What init answers: the keys (absent in cluster mode until the secrets are held) and the measurement. */
interface EnclaveInfo {
  publicKey?: Uint8Array;
  signingPublicKey?: Uint8Array;
  keyId?: string;
  measurement: string;
  /** Cluster mode only. */
  clusterReady?: boolean;
}

/** One enclave process and its IPC calls; knows nothing of restarts. */
class EnclaveProcess {
  readonly child: ChildProcess;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #gone: EnclaveError | undefined;
  readonly exited: Promise<EnclaveError>;

  readonly #onLost: (why: EnclaveError) => void;

  /** `onLost` runs once, synchronously, when the process exits, fails to start or is killed as hung. */
  constructor(env: NodeJS.ProcessEnv, nodeArgs: readonly string[], onLost: (why: EnclaveError) => void) {
    this.#onLost = onLost;
    const m = mainModule();
    this.child = fork(m.file, [], { execArgv: [...m.execArgv, ...nodeArgs], cwd: m.cwd, env, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (msg: { id: number; ok: boolean; value?: unknown; error?: { code: ErrorCode; message: string } }) => {
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(new EnclaveError(msg.error?.code ?? 'HRV_ERR_ENCLAVE', `enclave: ${msg.error?.message ?? 'unknown error'}`));
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => resolve(this.#fail(new EnclaveError('HRV_ERR_ENCLAVE', `enclave process exited (${signal ?? `code ${code}`})`))));
      this.child.on('error', (err) => {
        // A failed fork never emits 'exit'.
        if (this.child.pid === undefined) resolve(this.#fail(new EnclaveError('HRV_ERR_ENCLAVE', `enclave process failed: ${err.message}`, { cause: err })));
      });
    });
  }

  get alive(): boolean {
    return this.#gone === undefined;
  }

  #fail(err: EnclaveError): EnclaveError {
    if (this.#gone) return this.#gone;
    this.#gone = err;
    this.#onLost(err);
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(this.#gone);
    }
    this.#pending.clear();
    return this.#gone;
  }

  /** One request; rejects when the process exits or does not answer within `timeoutMs` (then it is killed). */
  call<T>(body: Record<string, unknown>, timeoutMs: number, onHang: (op: string) => void): Promise<T> {
    if (this.#gone) return Promise.reject(this.#gone);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.#pending.has(id)) return;
        onHang(String(body.op));
        // A hung enclave never answers: kill it so that its state file is no longer written, then fail the call.
        this.child.kill('SIGKILL');
        this.#fail(new EnclaveError('HRV_ERR_ENCLAVE', `enclave did not answer ${String(body.op)} within ${timeoutMs} ms (killed as hung)`));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.send({ id, ...body }, (err) => {
        const p = this.#pending.get(id);
        if (err && p) {
          this.#pending.delete(id);
          clearTimeout(p.timer);
          reject(new EnclaveError('HRV_ERR_ENCLAVE', `could not reach the enclave: ${err.message}`, { cause: err }));
        }
      });
    });
  }
}

/** Starts the enclave as a supervised child process and waits until it holds its keys. */
export async function spawnEnclave(opts: SpawnEnclaveOptions): Promise<ClusterEnclaveClient> {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const platformPublicKey = ensurePlatformKey(opts.platformKeyFile);
  const timeoutMs = opts.callTimeoutMs ?? DEFAULT_ENCLAVE_CALL_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new HrvaultError('HRV_ERR_CONFIG', `enclave call timeout must be positive (got ${timeoutMs} ms)`);
  const startTimeoutMs = Math.max(opts.startTimeoutMs ?? 60_000, timeoutMs);
  if (opts.cluster && (opts.keyPolicy?.rotationMs ?? 0) > 0) throw new HrvaultError('HRV_ERR_CONFIG', 'enclave key rotation is not available in cluster mode (the workers would rotate apart)');
  const restartEnabled = opts.restart ?? true;
  const log = opts.log ?? (() => undefined);
  const firstEnv = opts.env ?? process.env;
  const restartEnv: NodeJS.ProcessEnv = { ...firstEnv };
  delete restartEnv.HRVAULT_FAILPOINTS;

  let closed = false;
  let restarts = 0;
  let info: EnclaveInfo | undefined;
  let current: EnclaveProcess | undefined;
  const up = new WeakSet<EnclaveProcess>();
  /** The process being started (or the last start's failure); calls wait on it. */
  let ready: Promise<EnclaveProcess>;
  const onHang = (pid: number | undefined) => (op: string) => log('error', 'enclave hung: watchdog kills it', { pid, op, timeout_ms: timeoutMs });

  /** Called once per process when it is lost; replaces `ready` synchronously, so no call reaches the dead process. */
  const lost = (p: EnclaveProcess, why: EnclaveError): void => {
    // A process that never finished starting is retried by the start loop, not here.
    if (closed || current !== p || !up.has(p)) return;
    if (!restartEnabled) {
      log('error', 'enclave process lost; restart is off', { pid: p.child.pid, error: why.message });
      return;
    }
    restarts++;
    log('error', 'enclave process lost; restarting it', { pid: p.child.pid, error: why.message, restarts });
    // Only once the old process is gone (a watchdog kill is not yet an exit): two processes must never share the
    // sealed state, or the old one's last journal append could land after the new one loaded it.
    ready = p.exited.then(() => restartLoop());
    ready.then(
      (np) => {
        log('info', 'enclave restarted', { pid: np.child.pid, restarts });
        try {
          opts.onRestart?.(restarts);
        } catch (err) {
          log('error', 'onRestart callback failed', { error: err instanceof Error ? err.message : String(err) });
        }
      },
      () => undefined,
    );
  };

  const start = async (env: NodeJS.ProcessEnv): Promise<EnclaveProcess> => {
    const p: EnclaveProcess = new EnclaveProcess(env, opts.nodeArgs ?? [], (why) => lost(p, why));
    current = p;
    try {
      const got = await p.call<EnclaveInfo>(
        { op: 'init', dataDir: opts.dataDir, platformKeyFile: opts.platformKeyFile, enrolledGateways: opts.enrolledGateways, ...(opts.keyPolicy ? { keyPolicy: opts.keyPolicy } : {}), ...(opts.cluster ? { cluster: { partitions: opts.cluster.partitions, trust: opts.cluster.trust ?? { platformPublicKeys: [platformPublicKey], allowedMeasurements: [computeMeasurement()], allowSoftwareQuotes: true } } } : {}) },
        startTimeoutMs,
        onHang(p.child.pid),
      );
      // With rotation on, a restarted enclave may hold a newer key than the first start did; that is expected.
      const rotates = (opts.keyPolicy?.rotationMs ?? 0) > 0;
      if (info?.publicKey && !rotates && (!got.publicKey || Buffer.compare(Buffer.from(got.publicKey), Buffer.from(info.publicKey)) !== 0)) {
        throw new EnclaveError('HRV_ERR_ENCLAVE', 'restarted enclave holds a different key (sealed keys replaced?)');
      }
      if (closed) throw new EnclaveError('HRV_ERR_ENCLAVE', 'enclave closed while it started');
      if (!p.alive) throw new EnclaveError('HRV_ERR_ENCLAVE', 'enclave process exited right after it started');
      // Cluster mode: a worker provisioned since the last start comes back holding the secrets.
      if (!info?.publicKey) info = got;
      up.add(p);
    } catch (err) {
      current = undefined;
      p.child.kill('SIGKILL');
      throw err;
    }
    return p;
  };

  /** Restarts until a process is up, backing off (200 ms doubling to 10 s) while starts keep failing. */
  const restartLoop = async (): Promise<EnclaveProcess> => {
    let delay = 200;
    for (;;) {
      if (closed) throw new EnclaveError('HRV_ERR_ENCLAVE', 'enclave closed');
      try {
        return await start(restartEnv);
      } catch (err) {
        log('error', 'enclave restart failed; retrying', { error: err instanceof Error ? err.message : String(err), retry_ms: delay });
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    }
  };

  /**
   * The first start. A host that died alone leaves its enclave child running until that child sees its IPC channel
   * close (it then exits), and the sealed state's lock refuses a second enclave meanwhile: wait for the orphan to go,
   * within the start timeout, instead of failing the host's start.
   */
  const firstStart = async (): Promise<EnclaveProcess> => {
    const deadline = Date.now() + startTimeoutMs;
    for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
      try {
        return await start(firstEnv);
      } catch (err) {
        if (!(err instanceof EnclaveError && err.code === 'HRV_ERR_ENCLAVE_STATE_HELD') || Date.now() + delay > deadline) throw err;
        log('warn', 'sealed state still held by an earlier enclave process; waiting for it to exit', { error: err.message, retry_ms: delay });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  };
  ready = firstStart();
  await ready;

  const call = async <T>(body: Record<string, unknown>): Promise<T> => {
    if (closed) throw new EnclaveError('HRV_ERR_ENCLAVE', 'enclave closed');
    let p = await ready;
    // Lost between its start and this call: `ready` already names its successor.
    if (!p.alive) p = await ready;
    return p.call<T>(body, timeoutMs, onHang(p.child.pid));
  };

  /** The keys the enclave answered with; refused in cluster mode until it holds the secrets. */
  const keys = (): Required<Pick<EnclaveInfo, 'publicKey' | 'signingPublicKey' | 'keyId'>> => {
    const i = info!;
    if (!i.publicKey || !i.signingPublicKey || !i.keyId) throw new EnclaveError('HRV_ERR_ENCLAVE', 'the enclave holds no cluster secrets yet (bootstrapCluster or provisioning)');
    return { publicKey: i.publicKey, signingPublicKey: i.signingPublicKey, keyId: i.keyId };
  };
  /** A cluster op that answers with the enclave's keys: they become the client's. */
  const clusterCall = async (body: Record<string, unknown>): Promise<ClusterKeys> => {
    const got = await call<EnclaveInfo>(body);
    info = got;
    return { ...keys(), publicKey: new Uint8Array(keys().publicKey), signingPublicKey: new Uint8Array(keys().signingPublicKey) };
  };

  return {
    get pid() {
      return current?.child.pid ?? -1;
    },
    get restarts() {
      return restarts;
    },
    get clusterReady() {
      return info!.clusterReady ?? true;
    },
    get publicKey() {
      return new Uint8Array(keys().publicKey);
    },
    get signingPublicKey() {
      return new Uint8Array(keys().signingPublicKey);
    },
    get keyId() {
      return keys().keyId;
    },
    measurement: info!.measurement,
    quote: (nonce) => call<Quote>({ op: 'quote', nonce }),
    bootstrapCluster: () => clusterCall({ op: 'bootstrap-cluster' }),
    provisionRequest: () => call<ProvisionRequest>({ op: 'provision-request' }),
    provisionAccept: (response) => clusterCall({ op: 'provision-accept', response }),
    provisionAnswer: (request) => call<ProvisionResponse>({ op: 'provision-answer', request }),
    openPartition: (partition, chain) => call<PartitionOpened>({ op: 'open-partition', partition, chain }),
    processPartition: async (partition, files, written = []) => {
      const out = await call<PartitionOutcome>({ op: 'process-partition', partition, files, written });
      for (const r of out.results) r.bytes = new Uint8Array(r.bytes);
      if (out.checkpoint) out.checkpoint.bytes = new Uint8Array(out.checkpoint.bytes);
      return out;
    },
    closePartition: (partition) => call<boolean>({ op: 'close-partition', partition }),
    processBatch: async (files, written = []) => {
      const out = await call<BatchOutcome>({ op: 'batch', files, written });
      for (const r of out.results) r.bytes = new Uint8Array(r.bytes);
      return out;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      const p = current;
      if (!p?.alive) return;
      try {
        await p.call({ op: 'close' }, timeoutMs, onHang(p.child.pid));
      } catch {
        // Gone or hung (then already killed): nothing left to close politely.
      }
      const timer = setTimeout(() => p.child.kill('SIGKILL'), 3000);
      await p.exited;
      clearTimeout(timer);
    },
  };
}
