/**
 * The host's handle on the enclave: forks `main` as a separate OS process (its own address space, unlike a
 * worker thread) and exchanges request/response messages with it over the IPC pipe, one message per
 * micro-batch.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signingPublicKeyOf, type Quote } from '../crypto/index.js';
import { HrvaultError, type ErrorCode } from '../errors.js';
import type { BatchFile, BatchOutcome, EnrolledGateway } from './core.js';
import { writeFileDurable } from './sealing.js';

/** The enclave process failed, exited, or answered out of protocol. */
export class EnclaveError extends HrvaultError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'EnclaveError';
  }
}

export interface SpawnEnclaveOptions {
  /** Directory for the enclave's sealed keys and state (created if missing). */
  dataDir: string;
  /** The software backend's platform attestation key (32-byte Ed25519 seed); created if missing. */
  platformKeyFile: string;
  /** Gateways enrolled by the trusted operator. */
  enrolledGateways: EnrolledGateway[];
}

export interface EnclaveClient {
  readonly pid: number;
  /** The enclave's X25519 HPKE public key. */
  readonly publicKey: Uint8Array;
  /** The enclave's Ed25519 key that signs results. */
  readonly signingPublicKey: Uint8Array;
  readonly keyId: string;
  readonly measurement: string;
  /** A quote for `nonce` (16–64 bytes). */
  quote(nonce: Uint8Array): Promise<Quote>;
  /** Hands one micro-batch of sealed files to the enclave. */
  processBatch(files: BatchFile[]): Promise<BatchOutcome>;
  /** Stops the enclave process. */
  close(): Promise<void>;
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
}

/** Starts the enclave as a child process and waits until it holds its keys. */
export async function spawnEnclave(opts: SpawnEnclaveOptions): Promise<EnclaveClient> {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  ensurePlatformKey(opts.platformKeyFile);
  const m = mainModule();
  const child: ChildProcess = fork(m.file, [], { execArgv: m.execArgv, cwd: m.cwd, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let exited: Error | undefined;
  child.on('message', (msg: { id: number; ok: boolean; value?: unknown; error?: { code: ErrorCode; message: string } }) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.value);
    else p.reject(new EnclaveError(msg.error?.code ?? 'HRV_ERR_ENCLAVE', `enclave: ${msg.error?.message ?? 'unknown error'}`));
  });
  child.on('exit', (code, signal) => {
    exited = new EnclaveError('HRV_ERR_ENCLAVE', `enclave process exited (${signal ?? `code ${code}`})`);
    for (const p of pending.values()) p.reject(exited);
    pending.clear();
  });
  child.on('error', (err) => {
    exited = new EnclaveError('HRV_ERR_ENCLAVE', `enclave process failed: ${err.message}`, { cause: err });
    for (const p of pending.values()) p.reject(exited);
    pending.clear();
  });
  function call<T>(body: Record<string, unknown>): Promise<T> {
    if (exited) return Promise.reject(exited);
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, ...body }, (err) => {
        if (err && pending.delete(id)) reject(new EnclaveError('HRV_ERR_ENCLAVE', `could not reach the enclave: ${err.message}`, { cause: err }));
      });
    });
  }
  let info: { publicKey: Uint8Array; signingPublicKey: Uint8Array; keyId: string; measurement: string };
  try {
    info = await call({ op: 'init', dataDir: opts.dataDir, platformKeyFile: opts.platformKeyFile, enrolledGateways: opts.enrolledGateways });
  } catch (err) {
    child.kill();
    throw err;
  }
  return {
    pid: child.pid ?? -1,
    publicKey: new Uint8Array(info.publicKey),
    signingPublicKey: new Uint8Array(info.signingPublicKey),
    keyId: info.keyId,
    measurement: info.measurement,
    quote: (nonce) => call<Quote>({ op: 'quote', nonce }),
    processBatch: async (files) => {
      const out = await call<BatchOutcome>({ op: 'batch', files });
      for (const r of out.results) r.bytes = new Uint8Array(r.bytes);
      return out;
    },
    close: async () => {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      try {
        await call({ op: 'close' });
      } catch {
        // Already gone: nothing left to close.
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    },
  };
}
