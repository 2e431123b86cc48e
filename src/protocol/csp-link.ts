/**
 * The CSP's end of the CSP–SP link: runs the handshake, seals every operation under K_st (writes) or
 * K_rt (reads), opens the SP's answers, and renews the keys by a new handshake whenever an integrity check
 * fails on either side — rate-limited, so that an attacker who flips bits cannot turn renewal into a
 * denial of service.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { ChannelIntegrityError, ChannelReceiver, ChannelSender } from '../crypto/index.js';
import { HandshakeInitiator, type IdentityKeyPair, type SessionKeys } from '../crypto/index.js';
import { HrvaultError } from '../errors.js';
import { directionOf, type SpOperation, type SpTransport, type SpWireResponse } from './sp-protocol.js';

/** The SP refused an operation inside a valid session (conflict, not found, bad request). */
export class SpRequestError extends HrvaultError {
  readonly reason: 'conflict' | 'not_found' | 'bad_request' | 'unavailable';
  constructor(reason: SpRequestError['reason'], message: string, options?: { cause?: unknown }) {
    super('HRV_ERR_SP_REQUEST', message, options);
    this.name = 'SpRequestError';
    this.reason = reason;
  }
}

/** A key event, for the audit log. */
export interface KeyEvent {
  action: 'key.handshake' | 'key.renewal' | 'key.renewal_refused' | 'integrity.failure';
  detail: Record<string, unknown>;
}

export interface SpLinkOptions {
  identity: IdentityKeyPair;
  sp: { id: string; publicKey: KeyObject };
  transport: SpTransport;
  onKeyEvent?: (event: KeyEvent) => Promise<void> | void;
  /** At most this many renewals per window (default 5 per 60 s); beyond it requests fail instead. */
  renewalLimit?: { max: number; windowMs: number };
  /** Reorder window for answers of concurrent requests (default 64). */
  reorderWindow?: number;
}

interface Session {
  keys: SessionKeys;
  storage: ChannelSender;
  query: ChannelSender;
  answers: ChannelReceiver;
}

export class SpLink {
  readonly #opts: SpLinkOptions;
  #session: Session | undefined;
  #connecting: Promise<Session> | undefined;
  readonly #renewals: number[] = [];
  readonly stats = { handshakes: 0, renewals: 0, integrityFailures: 0, refusedRenewals: 0 };

  constructor(opts: SpLinkOptions) {
    const limit = opts.renewalLimit ?? { max: 5, windowMs: 60_000 };
    if (!(limit.max >= 1 && limit.windowMs > 0)) throw new HrvaultError('HRV_ERR_CONFIG', 'renewalLimit needs max ≥ 1 and windowMs > 0');
    this.#opts = { ...opts, renewalLimit: limit };
  }

  /** The key id of the current session, if any. */
  get keyId(): string | undefined {
    return this.#session?.keys.keyId;
  }

  /** Runs a handshake now (at start-up, or to renew keys). */
  async connect(): Promise<string> {
    return (await this.#handshake()).keys.keyId;
  }

  #handshake(): Promise<Session> {
    this.#connecting ??= (async () => {
      try {
        const initiator = new HandshakeInitiator(this.#opts.identity, this.#opts.sp);
        const reply = await this.#opts.transport.send({ kind: 'hello', hello: initiator.hello() });
        if (reply.kind !== 'reply') throw new SpRequestError('unavailable', `handshake refused by SP: ${errText(reply)}`);
        const { keys, finish } = initiator.finish(reply.reply);
        const done = await this.#opts.transport.send({ kind: 'finish', finish });
        if (done.kind !== 'ok' || done.key_id !== keys.keyId) throw new SpRequestError('unavailable', `handshake not confirmed by SP: ${errText(done)}`);
        const window = { reorderWindow: this.#opts.reorderWindow ?? 64 };
        const session: Session = {
          keys,
          storage: new ChannelSender(keys.keyId, keys.kSt, 'storage'),
          query: new ChannelSender(keys.keyId, keys.kRt, 'query'),
          answers: new ChannelReceiver(keys.keyId, keys.kRt, 'answer', window),
        };
        this.#session = session;
        this.stats.handshakes++;
        await this.#opts.onKeyEvent?.({ action: 'key.handshake', detail: { key_id: keys.keyId } });
        return session;
      } finally {
        this.#connecting = undefined;
      }
    })();
    return this.#connecting;
  }

  /** Renews K_st and K_rt after an integrity failure, unless the rate limit says no. */
  async #renew(reason: string, keyId: string): Promise<boolean> {
    const { max, windowMs } = this.#opts.renewalLimit!;
    const now = Date.now();
    while (this.#renewals.length > 0 && this.#renewals[0]! <= now - windowMs) this.#renewals.shift();
    this.stats.integrityFailures++;
    await this.#opts.onKeyEvent?.({ action: 'integrity.failure', detail: { reason, key_id: keyId } });
    if (this.#session && this.#session.keys.keyId !== keyId) return true; // someone already renewed
    if (this.#renewals.length >= max) {
      this.stats.refusedRenewals++;
      await this.#opts.onKeyEvent?.({ action: 'key.renewal_refused', detail: { reason, recent_renewals: this.#renewals.length } });
      return false;
    }
    this.#renewals.push(now);
    this.stats.renewals++;
    const old = keyId;
    const session = await this.#handshake();
    await this.#opts.onKeyEvent?.({ action: 'key.renewal', detail: { reason, old_key_id: old, new_key_id: session.keys.keyId } });
    return true;
  }

  /** Reports an integrity failure found by the CSP itself (e.g. a stored record) and renews the keys. */
  async integrityFailure(reason: string): Promise<boolean> {
    const keyId = this.#session?.keys.keyId ?? '';
    return this.#renew(reason, keyId);
  }

  /** Sends one operation and returns the SP's (authenticated) answer; renews keys and retries once on integrity failure. */
  async call<T extends Record<string, unknown>>(op: SpOperation): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const session = this.#session ?? (await this.#handshake());
      const direction = directionOf(op.op);
      const requestId = randomBytes(12).toString('base64url');
      const sender = direction === 'storage' ? session.storage : session.query;
      const msg = sender.seal(Buffer.from(JSON.stringify(op)), requestId);
      const res = await this.#opts.transport.send({ kind: 'sealed', direction, request_id: requestId, msg });
      if (res.kind === 'error') {
        if (attempt >= 1) throw new SpRequestError('unavailable', `SP refused ${op.op}: ${res.message}`);
        if (res.code === 'no_session') {
          await this.#handshake();
          continue;
        }
        if (res.code === 'integrity') {
          if (!(await this.#renew(`SP reported an integrity failure on ${op.op}`, session.keys.keyId))) {
            throw new SpRequestError('unavailable', 'integrity failures exceed the renewal limit; request refused');
          }
          continue;
        }
        throw new SpRequestError('bad_request', `SP refused ${op.op}: ${res.message}`);
      }
      if (res.kind !== 'sealed') throw new SpRequestError('bad_request', `unexpected SP answer ${res.kind}`);
      let answer: { ok: boolean; code?: string; message?: string } & Record<string, unknown>;
      try {
        answer = JSON.parse(session.answers.open(res.msg, requestId).toString('utf8')) as typeof answer;
      } catch (err) {
        if (!(err instanceof ChannelIntegrityError) || attempt >= 1) throw err;
        if (!(await this.#renew(`answer to ${op.op} failed its integrity check`, session.keys.keyId))) {
          throw new SpRequestError('unavailable', 'integrity failures exceed the renewal limit; request refused', { cause: err });
        }
        continue;
      }
      if (!answer.ok) {
        const reason = answer.code === 'conflict' || answer.code === 'not_found' ? answer.code : 'bad_request';
        throw new SpRequestError(reason, `SP: ${String(answer.message ?? reason)}`);
      }
      return answer as unknown as T;
    }
  }
}

function errText(r: SpWireResponse): string {
  return r.kind === 'error' ? `${r.code}: ${r.message}` : r.kind;
}
