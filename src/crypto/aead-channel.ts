/**
 * Message protection after the handshake: AES-256-GCM under a per-direction key derived from K_st or K_rt.
 * Every message carries its key id, a sequence number and a random nonce, all bound as associated data
 * together with the direction and an optional request binding, so a message replayed, reordered, moved to
 * the other direction or to another request fails to open.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { HrvaultError } from '../errors.js';

/** The AEAD tag did not verify, or a field was malformed: the message was altered or is not ours. */
export class ChannelIntegrityError extends HrvaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HRV_ERR_CHANNEL_INTEGRITY', message, options);
    this.name = 'ChannelIntegrityError';
  }
}

/** The message is authentic but replayed, out of order, or under a key id this side does not hold. */
export class ChannelReplayError extends HrvaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HRV_ERR_CHANNEL_REPLAY', message, options);
    this.name = 'ChannelReplayError';
  }
}

/** Which way a message travels; each direction has its own derived key. */
export type ChannelDirection = 'storage' | 'query' | 'answer';

/** A protected message as it crosses the CSP–SP boundary (JSON-safe). */
export interface SealedMessage {
  key_id: string;
  seq: number;
  nonce: string;
  ct: string;
}

const sealedSchema = z.strictObject({
  key_id: z.string().regex(/^[0-9a-f]{16}$/, 'key id must be 16 hex digits'),
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16}$/, 'nonce must be 12 bytes base64url'),
  ct: z.string().regex(/^[A-Za-z0-9_-]*$/, 'ciphertext must be base64url').max(64 * 1024 * 1024),
});

const TAG_BYTES = 16;

function directionKey(base: Buffer, direction: ChannelDirection): Buffer {
  return Buffer.from(hkdfSync('sha256', base, Buffer.alloc(0), Buffer.from(`hrvault/v1/channel/${direction}`), 32));
}

function aad(direction: ChannelDirection, keyId: string, seq: number, nonce: Buffer, binding: string): Buffer {
  return Buffer.from(JSON.stringify(['hrvault/v1/channel', direction, keyId, seq, nonce.toString('base64url'), binding]));
}

/** Seals messages in one direction under one key; sequence numbers start at 1 and only increase. */
export class ChannelSender {
  readonly keyId: string;
  readonly #key: Buffer;
  readonly #direction: ChannelDirection;
  #seq = 0;

  constructor(keyId: string, baseKey: Buffer, direction: ChannelDirection) {
    if (baseKey.length !== 32) throw new ChannelIntegrityError('channel key must be 32 bytes');
    this.keyId = keyId;
    this.#key = directionKey(baseKey, direction);
    this.#direction = direction;
  }

  /** Encrypts `plaintext`, binding it to `binding` (e.g. the request id an answer belongs to). */
  seal(plaintext: Uint8Array, binding = ''): SealedMessage {
    const seq = ++this.#seq;
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(this.#direction, this.keyId, seq, nonce, binding));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return { key_id: this.keyId, seq, nonce: nonce.toString('base64url'), ct: ct.toString('base64url') };
  }
}

/**
 * Opens messages of one direction. With `reorderWindow` 0 (the default) sequence numbers must strictly
 * increase; a positive window accepts a message up to that many behind the highest seen, once, as IPsec's
 * anti-replay window does, for transports that may deliver concurrent requests out of order.
 */
export class ChannelReceiver {
  readonly keyId: string;
  readonly #key: Buffer;
  readonly #direction: ChannelDirection;
  readonly #window: number;
  #highest = 0;
  readonly #seenInWindow = new Set<number>();

  constructor(keyId: string, baseKey: Buffer, direction: ChannelDirection, options: { reorderWindow?: number } = {}) {
    if (baseKey.length !== 32) throw new ChannelIntegrityError('channel key must be 32 bytes');
    const window = options.reorderWindow ?? 0;
    if (!Number.isInteger(window) || window < 0 || window > 4096) {
      throw new ChannelIntegrityError('reorderWindow must be an integer from 0 to 4096');
    }
    this.keyId = keyId;
    this.#key = directionKey(baseKey, direction);
    this.#direction = direction;
    this.#window = window;
  }

  /** Verifies and decrypts; throws ChannelIntegrityError on any alteration, ChannelReplayError on replay. */
  open(message: unknown, binding = ''): Buffer {
    const parsed = sealedSchema.safeParse(message);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ChannelIntegrityError(`malformed sealed message: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim());
    }
    const m = parsed.data;
    if (m.key_id !== this.keyId) throw new ChannelReplayError(`message under key ${m.key_id}, expected ${this.keyId}`);
    this.#checkFresh(m.seq);
    const nonce = Buffer.from(m.nonce, 'base64url');
    const body = Buffer.from(m.ct, 'base64url');
    if (body.length < TAG_BYTES) throw new ChannelIntegrityError('sealed message is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(this.#direction, m.key_id, m.seq, nonce, binding));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    let plaintext: Buffer;
    try {
      // The plaintext is released only after final() has checked the tag.
      plaintext = Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
    } catch (err) {
      throw new ChannelIntegrityError('integrity check failed: message altered, misbound or under another key', { cause: err });
    }
    this.#accept(m.seq);
    return plaintext;
  }

  #checkFresh(seq: number): void {
    if (seq > this.#highest) return;
    const tooOld = this.#window === 0 || seq <= this.#highest - this.#window;
    if (tooOld || this.#seenInWindow.has(seq)) {
      throw new ChannelReplayError(`sequence number ${seq} replayed or out of order (highest seen ${this.#highest})`);
    }
  }

  #accept(seq: number): void {
    if (this.#window > 0) {
      this.#seenInWindow.add(seq);
      for (const s of this.#seenInWindow) if (s <= Math.max(seq, this.#highest) - this.#window) this.#seenInWindow.delete(s);
    }
    if (seq > this.#highest) this.#highest = seq;
  }
}
