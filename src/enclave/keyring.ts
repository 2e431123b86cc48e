/**
 * The enclave's key ring: its HPKE and signing key pairs, the newest of which is current (quoted, and sealed to by
 * gateways that attested it). On a schedule a new pair is generated inside and becomes current; the pair it
 * replaces is retired but kept for a bounded retention, so files a gateway sealed to it before it re-attested are
 * still opened (and their results signed with the same pair, which that gateway attested). Past the retention the
 * private halves are erased: a file sealed to such a key is refused with HRV_ERR_KEY_RETIRED — the price of a
 * bounded window in which a later compromise of the enclave can open captured files.
 *
 * The ring lives sealed in the enclave's keys file (AES-GCM under the platform sealing secret); the private halves
 * never leave the enclave otherwise. A keys file of the first format (one pair, 64 raw bytes) is read as a ring of one.
 *
 * In cluster mode (JetStream workers) every worker's enclave holds the same ring, handed over in its portable form
 * inside the cluster secrets (cluster-secrets.ts): such a ring lives in memory only (`fromPortable`), with no file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { generateHpkeKeyPair, generateSigningKeyPair, hpkePublicKeyOf, keyIdOf, signingPublicKeyOf } from '../crypto/index.js';
import { HrvaultError } from '../errors.js';
import { loadSealingSecret, seal, unseal, writeFileDurable } from './sealing.js';

/** When to rotate and how long a retired key still opens files (ms; rotation 0 = never). */
export interface KeyPolicy {
  rotationMs: number;
  retentionMs: number;
}

export const NO_ROTATION: KeyPolicy = { rotationMs: 0, retentionMs: 7 * 24 * 3_600_000 };

export interface KeyPair {
  keyId: string;
  hpkePrivate: Uint8Array;
  signingPrivate: Uint8Array;
  publicKey: Uint8Array;
  signingPublicKey: Uint8Array;
  createdMs: number;
  /** When a newer pair replaced it (undefined: current). */
  retiredMs?: number;
}

/** How many erased key ids are remembered, so a file sealed to one gets a clear refusal rather than "unknown key". */
const FORGOTTEN_KEPT = 256;
const PURPOSE = 'keys';

const hex = z.string().regex(/^[0-9a-f]{64}$/);
/** The ring as plain data (private halves in hex): the keys file's content, and the ring's part of the cluster secrets. */
export const keyRingPortableSchema = z.strictObject({
  v: z.literal(2),
  pairs: z.array(z.strictObject({ hpke: hex, signing: hex, created_ms: z.number(), retired_ms: z.number().optional() })).min(1),
  forgotten: z.array(z.strictObject({ key_id: z.string(), retired_ms: z.number() })),
});

export type KeyRingPortable = z.infer<typeof keyRingPortableSchema>;

const toHex = (u: Uint8Array): string => Buffer.from(u).toString('hex');

function pairOf(hpkePrivate: Uint8Array, signingPrivate: Uint8Array, createdMs: number, retiredMs?: number): KeyPair {
  const publicKey = hpkePublicKeyOf(hpkePrivate);
  return {
    keyId: keyIdOf(publicKey),
    hpkePrivate,
    signingPrivate,
    publicKey,
    signingPublicKey: signingPublicKeyOf(signingPrivate),
    createdMs,
    ...(retiredMs === undefined ? {} : { retiredMs }),
  };
}

function freshPair(now: number): KeyPair {
  return pairOf(generateHpkeKeyPair().privateKey, generateSigningKeyPair().privateKey, now);
}

/**
 * The key ids of the enclave in `dataDir`, read from its sealed keys file: those it holds (current last) and those
 * erased after their retention (the last 256). Public values, for operators and tests.
 */
export function sealedKeyIds(dataDir: string): { held: string[]; erased: string[] } {
  const ring = KeyRing.open(join(dataDir, 'keys.sealed'), loadSealingSecret(join(dataDir, 'seal.key')), NO_ROTATION);
  return { held: ring.keyIds, erased: ring.erasedKeyIds };
}

export class KeyRing {
  /** Oldest first; the last is current. */
  #pairs: KeyPair[];
  #forgotten: { keyId: string; retiredMs: number }[];
  #rotations = 0;

  private constructor(
    /** The sealed keys file; undefined for a ring held in memory only (cluster mode). */
    readonly file: string | undefined,
    readonly policy: KeyPolicy,
    readonly secret: Uint8Array,
    pairs: KeyPair[],
    forgotten: { keyId: string; retiredMs: number }[],
  ) {
    this.#pairs = pairs;
    this.#forgotten = forgotten;
  }

  /** Opens the ring sealed in `file`, creating it with one fresh pair on first start; `now` in epoch ms. */
  static open(file: string, secret: Uint8Array, policy: KeyPolicy, now = Date.now()): KeyRing {
    if (!existsSync(file)) {
      const ring = new KeyRing(file, policy, secret, [freshPair(now)], []);
      ring.#write(ring.#pairs, []);
      return ring;
    }
    const raw = Buffer.from(unseal(secret, PURPOSE, readFileSync(file)));
    if (raw.length === 64 && raw[0] !== 0x7b) {
      // First format: one pair. Dated now, so an upgrade does not rotate at once.
      return new KeyRing(file, policy, secret, [pairOf(new Uint8Array(raw.subarray(0, 32)), new Uint8Array(raw.subarray(32, 64)), now)], []);
    }
    const parsed = keyRingPortableSchema.parse(JSON.parse(raw.toString('utf8')));
    raw.fill(0);
    return KeyRing.#fromParsed(file, policy, secret, parsed);
  }

  static #fromParsed(file: string | undefined, policy: KeyPolicy, secret: Uint8Array, parsed: KeyRingPortable): KeyRing {
    const pairs = parsed.pairs.map((p) => pairOf(Buffer.from(p.hpke, 'hex'), Buffer.from(p.signing, 'hex'), p.created_ms, p.retired_ms));
    return new KeyRing(file, policy, secret, pairs, parsed.forgotten.map((f) => ({ keyId: f.key_id, retiredMs: f.retired_ms })));
  }

  /** A ring held in memory only, from its portable form (validated; throws a ZodError on a malformed one). */
  static fromPortable(portable: unknown, policy: KeyPolicy): KeyRing {
    return KeyRing.#fromParsed(undefined, policy, new Uint8Array(0), keyRingPortableSchema.parse(portable));
  }

  /** A new ring of one fresh pair, in memory only; `now` in epoch ms. */
  static generate(policy: KeyPolicy, now = Date.now()): KeyRing {
    return new KeyRing(undefined, policy, new Uint8Array(0), [freshPair(now)], []);
  }

  /** The ring as plain data, private halves included: it must leave the enclave only sealed. */
  toPortable(): KeyRingPortable {
    return KeyRing.#portable(this.#pairs, this.#forgotten);
  }

  static #portable(pairs: KeyPair[], forgotten: { keyId: string; retiredMs: number }[]): KeyRingPortable {
    return {
      v: 2,
      pairs: pairs.map((p) => ({ hpke: toHex(p.hpkePrivate), signing: toHex(p.signingPrivate), created_ms: p.createdMs, ...(p.retiredMs === undefined ? {} : { retired_ms: p.retiredMs }) })),
      forgotten: forgotten.map((f) => ({ key_id: f.keyId, retired_ms: f.retiredMs })),
    };
  }

  /** The pair gateways seal new files to. */
  get current(): KeyPair {
    return this.#pairs[this.#pairs.length - 1]!;
  }

  /** Key ids still able to open files (current and retained), oldest first. */
  get keyIds(): string[] {
    return this.#pairs.map((p) => p.keyId);
  }

  /** Key ids erased after their retention (the last 256), oldest first. */
  get erasedKeyIds(): string[] {
    return this.#forgotten.map((f) => f.keyId);
  }

  /** Rotations done by this instance. */
  get rotations(): number {
    return this.#rotations;
  }

  /**
   * Rotates when the current pair is older than the policy's interval and erases retired pairs past their retention;
   * durable before it takes effect (a failed write changes nothing). Returns whether it rotated.
   */
  rotateIfDue(now = Date.now()): boolean {
    const due = this.policy.rotationMs > 0 && now - this.current.createdMs >= this.policy.rotationMs;
    const retired = due ? [...this.#pairs.slice(0, -1), { ...this.current, retiredMs: now }] : this.#pairs;
    const keep = retired.filter((p) => p.retiredMs === undefined || now - p.retiredMs <= this.policy.retentionMs);
    const erased = retired.filter((p) => !keep.includes(p));
    if (!due && erased.length === 0) return false;
    const pairs = due ? [...keep, freshPair(now)] : keep;
    const forgotten = [...this.#forgotten, ...erased.map((p) => ({ keyId: p.keyId, retiredMs: p.retiredMs! }))].slice(-FORGOTTEN_KEPT);
    this.#write(pairs, forgotten);
    for (const p of erased) {
      p.hpkePrivate.fill(0);
      p.signingPrivate.fill(0);
    }
    this.#pairs = pairs;
    this.#forgotten = forgotten;
    if (due) this.#rotations++;
    return due;
  }

  /**
   * The pair that opens a file sealed to `keyId`: the current one, or a retired one within its retention. Throws
   * HRV_ERR_KEY_RETIRED for a key retired beyond its retention, HRV_ERR_ENVELOPE_INTEGRITY for a key never held.
   */
  forOpening(keyId: string, now = Date.now()): KeyPair {
    const p = this.#pairs.find((x) => x.keyId === keyId);
    const retiredMs = p?.retiredMs ?? this.#forgotten.find((f) => f.keyId === keyId)?.retiredMs;
    if (p !== undefined && (p.retiredMs === undefined || now - p.retiredMs <= this.policy.retentionMs)) return p;
    if (retiredMs !== undefined)
      throw new HrvaultError(
        'HRV_ERR_KEY_RETIRED',
        `file is sealed to enclave key ${keyId}, retired ${new Date(retiredMs).toISOString()}, beyond the retention of ${Math.round(this.policy.retentionMs / 1000)} s; its private half is erased (the gateway must re-attest and seal to ${this.current.keyId})`,
      );
    throw new HrvaultError('HRV_ERR_ENVELOPE_INTEGRITY', `file is sealed to key ${keyId}, this enclave holds ${this.keyIds.join(', ')}`);
  }

  #write(pairs: KeyPair[], forgotten: { keyId: string; retiredMs: number }[]): void {
    if (this.file === undefined) return;
    const body = Buffer.from(JSON.stringify(KeyRing.#portable(pairs, forgotten)));
    try {
      writeFileDurable(this.file, seal(this.secret, PURPOSE, body));
    } finally {
      body.fill(0);
    }
  }
}
