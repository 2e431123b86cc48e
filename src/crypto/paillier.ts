/**
 * Paillier encryption of numeric metadata so the SP can add it up without reading it (Protocol II).
 * Thin over paillier-bigint for keys and CRT decryption; two additions the library lacks and the
 * 10,000-patient target needs: several values packed into one plaintext (slots), and a pool of
 * precomputed randomness r^n mod n² (computed with the CRT at the key owner), which turns an encryption
 * into one modular multiplication.
 */
import { createDiffieHellman } from 'node:crypto';
import { PrivateKey, PublicKey, generateRandomKeys } from 'paillier-bigint';
import { modInv, modPow, randBetween, gcd } from 'bigint-crypto-utils';
import { HrvaultError } from '../errors.js';

/** A value outside a slot's range, a malformed key, or a ciphertext outside Z*_{n²}. */
export class PaillierError extends HrvaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HRV_ERR_PAILLIER', message, options);
    this.name = 'PaillierError';
  }
}

export interface PaillierKeyPair {
  publicKey: PublicKey;
  privateKey: PrivateKey;
}

/** Generates a key pair with g = n + 1 (bits: modulus size; 2048 for production). */
export async function generatePaillierKeys(bits = 2048): Promise<PaillierKeyPair> {
  return generateRandomKeys(bits, true);
}

/** The public key as JSON-safe hex (what the SP receives). */
export function exportPaillierPublicKey(pk: PublicKey): { n: string } {
  return { n: pk.n.toString(16) };
}

function hexBig(field: string, value: unknown): bigint {
  if (typeof value !== 'string' || !/^[0-9a-f]{16,2048}$/.test(value)) throw new PaillierError(`${field} must be a hex integer`);
  return BigInt(`0x${value}`);
}

/** Reads a public key exported by exportPaillierPublicKey. */
export function importPaillierPublicKey(json: unknown): PublicKey {
  const n = hexBig('n', (json as { n?: unknown } | null)?.n);
  return new PublicKey(n, n + 1n);
}

/** The private key's primes as hex, for the CSP's own sealed key store only. */
export function exportPaillierPrivateKey(sk: PrivateKey): { p: string; q: string } {
  const p = (sk as unknown as { _p?: bigint })._p;
  const q = (sk as unknown as { _q?: bigint })._q;
  if (p === undefined || q === undefined) throw new PaillierError('private key has no primes to export');
  return { p: p.toString(16), q: q.toString(16) };
}

/** Rebuilds a private key (g = n + 1 variant, with CRT decryption) from its primes. */
export function importPaillierPrivateKey(json: unknown): PaillierKeyPair {
  const o = json as { p?: unknown; q?: unknown } | null;
  const p = hexBig('p', o?.p);
  const q = hexBig('q', o?.q);
  const n = p * q;
  const publicKey = new PublicKey(n, n + 1n);
  const lambda = (p - 1n) * (q - 1n);
  const privateKey = new PrivateKey(lambda, modInv(lambda, n), publicKey, p, q);
  return { publicKey, privateKey };
}

/**
 * Packs several non-negative integers into one plaintext, `slotBits` apart. Each value must be below
 * 2^(slotBits − headroomBits), so that up to 2^headroomBits packed plaintexts add without one slot
 * carrying into the next.
 */
export class SlotCodec {
  readonly slots: number;
  readonly slotBits: number;
  readonly headroomBits: number;
  /** Largest value one slot accepts (exclusive). */
  readonly valueLimit: bigint;
  readonly #mask: bigint;

  constructor(modulusBits: number, options: { slotBits?: number; headroomBits?: number } = {}) {
    const slotBits = options.slotBits ?? 64;
    const headroomBits = options.headroomBits ?? 20;
    if (!Number.isInteger(slotBits) || slotBits < 16 || slotBits > 256) throw new PaillierError('slotBits must be 16–256');
    if (!Number.isInteger(headroomBits) || headroomBits < 1 || headroomBits >= slotBits) {
      throw new PaillierError('headroomBits must be at least 1 and below slotBits');
    }
    this.slotBits = slotBits;
    this.headroomBits = headroomBits;
    this.slots = Math.floor((modulusBits - 1) / slotBits);
    if (this.slots < 1) throw new PaillierError('modulus too small for one slot');
    this.valueLimit = 1n << BigInt(slotBits - headroomBits);
    this.#mask = (1n << BigInt(slotBits)) - 1n;
  }

  /** The plaintext holding `values` (at most `slots` of them) in slots 0, 1, …. */
  pack(values: ReadonlyArray<bigint | number>): bigint {
    if (values.length > this.slots) throw new PaillierError(`${values.length} values exceed the ${this.slots} slots`);
    let m = 0n;
    for (let i = values.length - 1; i >= 0; i--) {
      const v = BigInt(values[i]!);
      if (v < 0n || v >= this.valueLimit) throw new PaillierError(`slot ${i} value ${v} outside [0, 2^${this.slotBits - this.headroomBits})`);
      m = (m << BigInt(this.slotBits)) | v;
    }
    return m;
  }

  /** The first `count` slot values of a (possibly summed) plaintext. */
  unpack(m: bigint, count: number): bigint[] {
    const out: bigint[] = [];
    for (let i = 0; i < count; i++) {
      out.push(m & this.#mask);
      m >>= BigInt(this.slotBits);
    }
    return out;
  }
}

/**
 * Encrypts under a public key with randomness drawn from a pool of precomputed r^n mod n². When the
 * private key is at hand (the CSP encrypts its own metadata) the pool is filled with the CRT over p² and
 * q², two half-size exponentiations instead of one full-size one.
 */
export class PaillierEncryptor {
  readonly publicKey: PublicKey;
  readonly #n2: bigint;
  readonly #crt: { p2: bigint; q2: bigint; ep: bigint; eq: bigint; p2InvModQ2: bigint } | undefined;
  readonly #pool: bigint[] = [];

  constructor(publicKey: PublicKey, privateKey?: PrivateKey) {
    this.publicKey = publicKey;
    this.#n2 = publicKey.n * publicKey.n;
    const p = privateKey ? (privateKey as unknown as { _p?: bigint })._p : undefined;
    const q = privateKey ? (privateKey as unknown as { _q?: bigint })._q : undefined;
    if (p !== undefined && q !== undefined) {
      const p2 = p * p;
      const q2 = q * q;
      const n = publicKey.n;
      // r^n mod p² needs only the exponent n mod φ(p²) = p(p−1); likewise for q².
      this.#crt = { p2, q2, ep: n % (p * (p - 1n)), eq: n % (q * (q - 1n)), p2InvModQ2: modInv(p2, q2) };
    }
  }

  /** Number of precomputed randomness values left. */
  get poolSize(): number {
    return this.#pool.length;
  }

  /** Precomputes `count` randomness values (the expensive part of encryption). */
  refill(count: number): void {
    const n = this.publicKey.n;
    for (let i = 0; i < count; i++) {
      let r: bigint;
      do r = randBetween(n - 1n, 2n);
      while (gcd(r, n) !== 1n);
      const c = this.#crt;
      if (c) {
        const xp = opensslModPow(r % c.p2, c.ep, c.p2);
        const xq = opensslModPow(r % c.q2, c.eq, c.q2);
        const h = (((xq - xp) % c.q2) + c.q2) % c.q2;
        this.#pool.push(xp + c.p2 * ((h * c.p2InvModQ2) % c.q2));
      } else {
        this.#pool.push(opensslModPow(r, n, this.#n2));
      }
    }
  }

  /** Encrypts plaintext m ∈ [0, n): (1 + m·n)·r^n mod n², which is g^m·r^n for g = n + 1. */
  encrypt(m: bigint): bigint {
    const n = this.publicKey.n;
    if (m < 0n || m >= n) throw new PaillierError('plaintext outside [0, n)');
    if (this.#pool.length === 0) this.refill(1);
    const rn = this.#pool.pop()!;
    return (((1n + m * n) % this.#n2) * rn) % this.#n2;
  }
}

function toBytes(x: bigint): Buffer {
  const hex = x.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
}

/**
 * base^exp mod m through OpenSSL's constant-time Montgomery exponentiation, reached via the
 * Diffie–Hellman API (g^x mod p is exactly a modular exponentiation; p need not be prime for it). Node
 * offers no other door to it, and it is about twice as fast as JavaScript BigInt here, and constant-time.
 */
export function opensslModPow(base: bigint, exp: bigint, m: bigint): bigint {
  if (m % 2n === 0n || base <= 1n || exp <= 0n) return modPow(base, exp, m);
  const dh = createDiffieHellman(toBytes(m), toBytes(base));
  dh.setPrivateKey(toBytes(exp));
  return BigInt(`0x${dh.generateKeys('hex') || '0'}`);
}

/** Homomorphic sum of ciphertexts, using only the public key (what the SP runs). */
export function addCiphertexts(publicKey: PublicKey, ciphertexts: readonly bigint[]): bigint {
  const n2 = publicKey.n * publicKey.n;
  let acc = 1n;
  for (const c of ciphertexts) {
    if (c <= 0n || c >= n2) throw new PaillierError('ciphertext outside (0, n²)');
    acc = (acc * c) % n2;
  }
  return acc;
}

const crtDecryptors = new WeakMap<PrivateKey, (c: bigint) => bigint>();

/**
 * Decryption by the CRT with OpenSSL exponentiation (for g = n + 1): m_p = L_p(c^(p−1) mod p²)·h_p mod p
 * with h_p = ((p−1)·q)⁻¹ mod p, likewise for q, then recombined mod n. Falls back to the library without
 * the primes.
 */
function crtDecryptor(sk: PrivateKey): (c: bigint) => bigint {
  const cached = crtDecryptors.get(sk);
  if (cached) return cached;
  const p = (sk as unknown as { _p?: bigint })._p;
  const q = (sk as unknown as { _q?: bigint })._q;
  let fn: (c: bigint) => bigint;
  if (p === undefined || q === undefined || sk.publicKey.g !== sk.publicKey.n + 1n) {
    fn = (c) => sk.decrypt(c);
  } else {
    const p2 = p * p;
    const q2 = q * q;
    const hp = modInv(((p - 1n) * q) % p, p);
    const hq = modInv(((q - 1n) * p) % q, q);
    const pInvQ = modInv(p, q);
    fn = (c) => {
      const mp = ((((opensslModPow(c % p2, p - 1n, p2) - 1n) / p) % p) * hp) % p;
      const mq = ((((opensslModPow(c % q2, q - 1n, q2) - 1n) / q) % q) * hq) % q;
      const h = ((((mq - mp) % q) + q) * pInvQ) % q;
      return mp + p * h;
    };
  }
  crtDecryptors.set(sk, fn);
  return fn;
}

/** Decrypts (CRT when the primes are known) to the whole plaintext in [0, n). */
export function decryptPlaintext(privateKey: PrivateKey, ciphertext: bigint): bigint {
  const n2 = privateKey.publicKey.n * privateKey.publicKey.n;
  if (ciphertext <= 0n || ciphertext >= n2) throw new PaillierError('ciphertext outside (0, n²)');
  return crtDecryptor(privateKey)(ciphertext);
}

/** Decrypts (CRT when the primes are known) and unpacks `count` slots. */
export function decryptPacked(privateKey: PrivateKey, ciphertext: bigint, codec: SlotCodec, count: number): bigint[] {
  return codec.unpack(decryptPlaintext(privateKey, ciphertext), count);
}
