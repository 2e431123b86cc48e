/**
 * The enclave's cache of gateway epochs (sealed-file version 2): epoch → keys, filled only after the epoch's opening
 * block passed its sender's signature and opened with the enclave's HPKE key, so each epoch costs one verification
 * and one key agreement per enclave process instead of one per file. A hit needs the file's block to be the very
 * bytes that were authenticated: any other block under a known epoch id is authenticated afresh (and refused with its
 * own reason), so a cache never turns a forged block into a valid one. Bounded, least recently used out; lost on a
 * restart, when any file of an epoch recovers it (files stay self-contained and order-independent).
 */
import { unlockEpochBlock, type EpochKeys, type ParsedEpochEnvelope } from '../crypto/index.js';

/** Default number of epochs kept: one per gateway per hour for 1,000 gateways, with room for rotations. */
export const DEFAULT_EPOCH_CACHE = 4096;

interface Entry {
  block: Buffer;
  keys: EpochKeys;
}

export class EpochCache {
  readonly #max: number;
  readonly #entries = new Map<string, Entry>();
  /** Opening blocks authenticated (cache misses that succeeded), for tests and the bench. */
  unlocks = 0;

  constructor(max = DEFAULT_EPOCH_CACHE) {
    this.#max = Math.max(1, max);
  }

  /**
   * The keys of a parsed batch file's epoch: cached, or by authenticating its opening block with `hpkePrivateKey` and
   * the sender's enrolled `senderKey`. Throws EnvelopeError (SIGNATURE, INTEGRITY, MALFORMED) as unlockEpochBlock.
   */
  keysFor(p: ParsedEpochEnvelope, hpkePrivateKey: Uint8Array, senderKey: Uint8Array | undefined): EpochKeys {
    const name = `${p.block.gateway}/${p.block.idHex}`;
    const hit = this.#entries.get(name);
    const block = Buffer.from(p.block.bytes.buffer, p.block.bytes.byteOffset, p.block.bytes.length);
    if (hit !== undefined && hit.block.equals(block)) {
      this.#entries.delete(name);
      this.#entries.set(name, hit);
      return hit.keys;
    }
    const keys = unlockEpochBlock(p.block, hpkePrivateKey, senderKey);
    this.unlocks++;
    this.#entries.delete(name);
    this.#entries.set(name, { block: Buffer.from(block), keys });
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    return keys;
  }

  get size(): number {
    return this.#entries.size;
  }
}
