/**
 * Delivers the result outbox to the CSP, oldest first, with the gateway's device credential: each request carries
 * a short-lived EdDSA JWS signed with the gateway's own Ed25519 key (the key never leaves the gateway; the CSP
 * holds only its public half, registered by an admin). A CSP that is down, slow or throttling costs nothing but
 * delay: entries stay in the outbox and go out in order when it answers.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Logger } from 'pino';
import { ingestAnswerSchema, MAX_INGEST_ITEMS, parseContract, type IngestRequest } from '../contracts/index.js';
import { signingKeyObject } from '../crypto/index.js';
import type { OutboxEntry, ResultOutbox } from './result-outbox.js';

/** The JWS header type and audience the CSP expects of a device credential. */
export const DEVICE_JWT_TYPE = 'hrvault-device+jwt';
export const DEVICE_JWT_AUDIENCE = 'hrvault-csp';
/** Path of the ingest endpoint below the CSP's base URL. */
export const INGEST_PATH = '/api/v1/ingest/results';

export interface CspForwarderOptions {
  /** The CSP's base URL, e.g. https://csp.example:8443 */
  url: string;
  gatewayId: string;
  /** The gateway's Ed25519 signing seed (32 bytes). */
  signingPrivateKey: Uint8Array;
  outbox: ResultOutbox;
  logger: Logger;
  /** Longest wait between retries, ms. */
  retryMaxMs: number;
  /** Per-request timeout, ms (default 10 s). */
  timeoutMs?: number;
  /** Called after the CSP acknowledged entries (for counters). */
  onDelivered?: (entries: readonly OutboxEntry[], outcomes: readonly ('stored' | 'duplicate')[]) => void;
}

export interface CspForwarderStats {
  delivered: number;
  duplicates: number;
  rejected: number;
  failures: number;
  waiting: number;
}

export interface CspForwarder {
  /** Starts a delivery round now (no-op while one runs). */
  kick(): void;
  /** Waits until the outbox is empty or the timeout passes; resolves to whether it emptied. */
  drain(timeoutMs: number): Promise<boolean>;
  stats(): CspForwarderStats;
  stop(): Promise<void>;
}

/** A device credential for one request: EdDSA JWS, valid 60 s, with a unique jti. */
export async function deviceToken(gatewayId: string, signingPrivateKey: Uint8Array): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', typ: DEVICE_JWT_TYPE })
    .setIssuer(gatewayId)
    .setSubject(gatewayId)
    .setAudience(DEVICE_JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('60s')
    .setJti(randomUUID())
    .sign(signingKeyObject(signingPrivateKey));
}

class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`CSP answered ${status}: ${detail}`);
  }
}

/** True when a request gave up on its own timeout (the CSP may still be storing what it carried). */
function timedOut(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || (err.cause instanceof Error && err.cause.name === 'TimeoutError'));
}

/** Starts delivering; call `kick()` after accepting results into the outbox. */
export function startCspForwarder(opts: CspForwarderOptions): CspForwarder {
  const log = opts.logger.child({ component: 'csp-forwarder' });
  const base = opts.url.replace(/\/+$/, '');
  const st = { delivered: 0, duplicates: 0, rejected: 0, failures: 0 };
  let stopped = false;
  let running: Promise<void> | undefined;
  let backoffMs = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  // Items per request. The CSP stores each item as its own crash-atomic append, so a full request can outlast the
  // timeout; resending the same full request would then time out for ever (stored once, then answered
  // "duplicate" item by item). Halved after a timeout, doubled back after each answer.
  let batch = MAX_INGEST_ITEMS;

  const post = async (entries: readonly OutboxEntry[]): Promise<('stored' | 'duplicate')[]> => {
    const body: IngestRequest = { gateway: opts.gatewayId, items: entries.map((e) => ({ patient: e.patient, result: e.result })) };
    const res = await fetch(`${base}${INGEST_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await deviceToken(opts.gatewayId, opts.signingPrivateKey)}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
    });
    const text = await res.text();
    if (!res.ok) {
      let detail = text.slice(0, 500);
      try {
        const p = JSON.parse(text) as { detail?: unknown; title?: unknown };
        detail = String(p.detail ?? p.title ?? detail);
      } catch {
        // not problem+json: keep the raw text
      }
      const ra = Number(res.headers.get('retry-after'));
      throw new HttpStatusError(res.status, detail, Number.isFinite(ra) && ra > 0 ? ra * 1000 : undefined);
    }
    const answer = parseContract('ingest answer', ingestAnswerSchema, JSON.parse(text));
    if (answer.outcomes.length !== entries.length) throw new HttpStatusError(502, `answer has ${answer.outcomes.length} outcomes for ${entries.length} items`, undefined);
    return answer.outcomes.map((o) => o.outcome);
  };

  const round = async (): Promise<void> => {
    while (!stopped && opts.outbox.size > 0) {
      const entries = opts.outbox.pending(batch);
      try {
        const outcomes = await post(entries);
        batch = Math.min(MAX_INGEST_ITEMS, batch * 2);
        opts.outbox.delivered(entries);
        st.delivered += outcomes.filter((o) => o === 'stored').length;
        st.duplicates += outcomes.filter((o) => o === 'duplicate').length;
        opts.onDelivered?.(entries, outcomes);
        backoffMs = 0;
      } catch (err) {
        if (err instanceof HttpStatusError && err.status === 422 && entries.length === 1) {
          // The CSP refuses this result's shape: it can never be delivered. Keep it aside for an operator
          // instead of blocking every later result behind it.
          opts.outbox.reject(entries, err.detail);
          st.rejected++;
          log.error({ patient: entries[0]!.patient, seq: entries[0]!.result.seq, detail: err.detail }, 'CSP refused a result; moved to the outbox\'s rejected/');
          continue;
        }
        if (err instanceof HttpStatusError && err.status === 422) {
          // Find the bad one: deliver one at a time until it is isolated.
          for (const e of entries) {
            try {
              const [o] = await post([e]);
              opts.outbox.delivered([e]);
              if (o === 'stored') st.delivered++;
              else st.duplicates++;
              opts.onDelivered?.([e], [o!]);
            } catch (one) {
              if (one instanceof HttpStatusError && one.status === 422) {
                opts.outbox.reject([e], one.detail);
                st.rejected++;
                log.error({ patient: e.patient, seq: e.result.seq, detail: one.detail }, 'CSP refused a result; moved to the outbox\'s rejected/');
              } else throw one;
            }
          }
          continue;
        }
        st.failures++;
        if (timedOut(err)) batch = Math.max(1, Math.floor(entries.length / 2));
        backoffMs = Math.min(opts.retryMaxMs, Math.max(200, backoffMs * 2));
        const wait = err instanceof HttpStatusError && err.retryAfterMs !== undefined ? Math.max(err.retryAfterMs, backoffMs) : backoffMs;
        log.warn({ err: err instanceof Error ? err.message : String(err), waiting: opts.outbox.size, retry_ms: wait, batch }, 'CSP delivery failed; results kept, will retry');
        retryTimer = setTimeout(() => {
          retryTimer = undefined;
          kick();
        }, wait);
        retryTimer.unref();
        return;
      }
    }
  };

  // While a retry is scheduled, new results wait for it: a CSP that is down is not hammered once per result.
  function kick(): void {
    if (stopped || running || retryTimer) return;
    running = round()
      .catch((err: unknown) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'CSP delivery stopped by an error'))
      .finally(() => {
        running = undefined;
      });
  }

  return {
    kick,
    async drain(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (opts.outbox.size > 0 && Date.now() < deadline) {
        if (!running && !retryTimer) kick();
        await (running ?? new Promise((r) => setTimeout(r, 50)));
        if (opts.outbox.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      }
      return opts.outbox.size === 0;
    },
    stats: () => ({ ...st, waiting: opts.outbox.size }),
    async stop() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      await running;
    },
  };
}
