/**
 * The gateway's epoch secrets (sealed-file version 2, src/crypto/epoch-envelope.ts): one random 32-byte secret per
 * epoch, encapsulated once to the attested enclave key and signed once. An epoch ends after `maxAgeMs`, after
 * `maxFiles` files, when the attested enclave key changes, and at every start of the gateway (a new epoch costs one
 * HPKE seal and one signature; a count of files sealed before a crash would have to be made durable per file).
 *
 * Each secret is written to `<dir>/<epoch id>.key` (mode 0600, temp file, fsync, rename, directory fsync) before the
 * first file sealed under it can exist, so a crash never loses the key to results still to come back. Secrets of
 * epochs older than `retentionMs` are deleted: a result of such an epoch no longer opens (refused as
 * HRV_ERR_ENVELOPE_EPOCH), which bounds what a stolen disk holds.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { createEpoch, deriveEpochKeys, EnvelopeError, EPOCH_ID_BYTES, EPOCH_SECRET_BYTES, keyIdOf, type EpochKeys } from '../crypto/index.js';
import { fsyncDir, writeFileDurable } from '../durable-file.js';
import { HrvaultError } from '../errors.js';

/** When an epoch ends and how long its secret is kept. */
export interface EpochPolicy {
  /** An epoch ends this long after it began, ms (default 1 h). */
  maxAgeMs: number;
  /** An epoch ends after this many files (default 2^20: a random-nonce collision chance below 2^-57 per key). */
  maxFiles: number;
  /** Secrets of epochs that began longer ago than this are deleted, ms (default 30 days). */
  retentionMs: number;
}

export const DEFAULT_EPOCH_POLICY: EpochPolicy = { maxAgeMs: 3_600_000, maxFiles: 2 ** 20, retentionMs: 30 * 86_400_000 };

const fileSchema = z.strictObject({
  v: z.literal(1),
  id: z.string().regex(/^[0-9a-f]{32}$/),
  gateway: z.string(),
  secret: z.string().regex(/^[0-9a-f]{64}$/),
  created_ms: z.number().int().nonnegative(),
  enclave_key_id: z.string(),
});

const KEY_FILE = /^([0-9a-f]{32})\.key$/;

interface Stored {
  keys: EpochKeys;
  createdMs: number;
}

interface Current {
  keys: EpochKeys;
  createdMs: number;
  enclaveKeyId: string;
  files: number;
}

/** The enclave key an epoch is for, as attestation gave it. */
export interface EpochRecipient {
  publicKey: Uint8Array;
}

/** Reads and checks one stored secret; throws HRV_ERR_SPOOL naming a file that is unreadable or not epoch `idHex` of `gateway`. */
function loadEpochFile(path: string, idHex: string, gateway: string): Stored {
  let f: z.infer<typeof fileSchema>;
  try {
    f = fileSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch (err) {
    throw new HrvaultError('HRV_ERR_SPOOL', `epoch secret ${path} is unreadable`, { cause: err });
  }
  if (f.id !== idHex || f.gateway !== gateway) throw new HrvaultError('HRV_ERR_SPOOL', `epoch secret ${path} is not epoch ${idHex} of gateway ${gateway}`);
  const secret = Buffer.from(f.secret, 'hex');
  try {
    return { keys: deriveEpochKeys(Buffer.from(f.id, 'hex'), gateway, secret), createdMs: f.created_ms };
  } finally {
    secret.fill(0);
  }
}

/**
 * Read-only: the keys of epoch `idHex` of `gateway` as stored in `dir`, read from disk (nothing written or deleted),
 * for a tool or test opening results beside a running gateway. Throws EnvelopeError(EPOCH) if it is not there.
 */
export function readStoredEpoch(dir: string, gateway: string, idHex: string): EpochKeys {
  const path = join(dir, `${idHex}.key`);
  if (!/^[0-9a-f]{32}$/.test(idHex) || !existsSync(path)) throw new EnvelopeError('HRV_ERR_ENVELOPE_EPOCH', `no stored epoch ${gateway}/${idHex} in ${dir}`);
  return loadEpochFile(path, idHex, gateway).keys;
}

export class GatewayEpochs {
  readonly #dir: string;
  readonly #gateway: string;
  readonly #signingKey: Uint8Array;
  readonly #policy: EpochPolicy;
  readonly #stored = new Map<string, Stored>();
  #current: Current | undefined;

  private constructor(dir: string, gateway: string, signingKey: Uint8Array, policy: EpochPolicy) {
    this.#dir = dir;
    this.#gateway = gateway;
    this.#signingKey = signingKey;
    this.#policy = policy;
  }

  /**
   * Loads the secrets kept in `dir` (created 0700 if missing) for opening results, deleting leftover temp files and
   * secrets beyond retention; throws HRV_ERR_SPOOL naming a file that is unreadable or not this gateway's.
   */
  static open(dir: string, gateway: string, signingPrivateKey: Uint8Array, policy: Partial<EpochPolicy> = {}, nowMs = Date.now()): GatewayEpochs {
    const e = new GatewayEpochs(dir, gateway, signingPrivateKey, { ...DEFAULT_EPOCH_POLICY, ...policy });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(dir)) {
      const m = KEY_FILE.exec(name);
      if (m === null) {
        if (name.includes('.tmp-')) rmSync(join(dir, name), { force: true }); // a write a crash cut short: never used
        continue;
      }
      e.#stored.set(m[1]!, loadEpochFile(join(dir, name), m[1]!, gateway));
    }
    e.prune(nowMs);
    return e;
  }

  /**
   * The epoch the next file is sealed under, counting it: the current one, or a new one when there is none, it is
   * due, or `enclave` is another key than its own. A new epoch's secret is durable before this returns; if it cannot
   * be written this throws HRV_ERR_SPOOL and nothing may be sealed.
   */
  forNextFile(enclave: EpochRecipient, nowMs = Date.now()): EpochKeys {
    const keyId = keyIdOf(enclave.publicKey);
    const c = this.#current;
    if (c === undefined || c.enclaveKeyId !== keyId || c.files >= this.#policy.maxFiles || nowMs - c.createdMs >= this.#policy.maxAgeMs || nowMs < c.createdMs) {
      this.#current = this.#begin(enclave.publicKey, keyId, nowMs);
    }
    this.#current!.files++;
    return this.#current!.keys;
  }

  #begin(enclavePublicKey: Uint8Array, enclaveKeyId: string, nowMs: number): Current {
    const id = randomBytes(EPOCH_ID_BYTES);
    const secret = randomBytes(EPOCH_SECRET_BYTES);
    try {
      const createdMs = Math.max(0, Math.floor(nowMs));
      const keys = createEpoch({ id, secret, gateway: this.#gateway, createdMs, enclavePublicKey, enclaveKeyId, signingPrivateKey: this.#signingKey });
      const file = { v: 1, id: keys.idHex, gateway: this.#gateway, secret: secret.toString('hex'), created_ms: createdMs, enclave_key_id: enclaveKeyId };
      try {
        writeFileDurable(join(this.#dir, `${keys.idHex}.key`), JSON.stringify(file), { mode: 0o600 });
      } catch (err) {
        throw new HrvaultError('HRV_ERR_SPOOL', `epoch secret could not be written to ${this.#dir}: no file is sealed until it can`, { cause: err });
      }
      this.#stored.set(keys.idHex, { keys, createdMs });
      this.prune(nowMs);
      return { keys, createdMs, enclaveKeyId, files: 0 };
    } finally {
      secret.fill(0);
    }
  }

  /** The keys of a stored epoch, for a result naming `idHex`; throws EnvelopeError(EPOCH) for one this gateway does not hold. */
  forResult(gateway: string, idHex: string): EpochKeys {
    const s = gateway === this.#gateway ? this.#stored.get(idHex) : undefined;
    if (s === undefined) throw new EnvelopeError('HRV_ERR_ENVELOPE_EPOCH', `result names epoch ${gateway}/${idHex}, which this gateway does not hold (never made, or deleted after retention)`);
    return s.keys;
  }

  /** Deletes the secrets of epochs that began more than the retention ago (never the current epoch's). */
  prune(nowMs = Date.now()): void {
    let removed = false;
    for (const [id, s] of this.#stored) {
      if (nowMs - s.createdMs <= this.#policy.retentionMs || id === this.#current?.keys.idHex) continue;
      rmSync(join(this.#dir, `${id}.key`), { force: true });
      this.#stored.delete(id);
      removed = true;
    }
    if (removed) fsyncDir(this.#dir);
  }

  /** Number of epochs whose secret is held. */
  get size(): number {
    return this.#stored.size;
  }
}
