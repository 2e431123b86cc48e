/**
 * Ways a CSP reaches an SP. In-process still serialises every message to JSON and back, so nothing but
 * wire bytes crosses, exactly as over HTTP.
 */
import type { SpTransport, SpWireRequest, SpWireResponse } from './sp-protocol.js';
import { SpRequestError } from './csp-link.js';

/** Anything with the SP's `handle` method. */
export interface SpEndpoint {
  handle(raw: unknown): Promise<SpWireResponse>;
}

/** A transport to an SP in the same process. */
export function inProcessTransport(sp: SpEndpoint): SpTransport {
  return {
    async send(request: SpWireRequest): Promise<SpWireResponse> {
      const answer = await sp.handle(JSON.parse(JSON.stringify(request)));
      return JSON.parse(JSON.stringify(answer)) as SpWireResponse;
    },
  };
}

/** A transport to an SP served over HTTP (`hrvault sp`), POSTing each message to `url`. */
export function httpTransport(url: string, options: { timeoutMs?: number } = {}): SpTransport {
  const target = new URL(url);
  return {
    async send(request: SpWireRequest): Promise<SpWireResponse> {
      let res: Response;
      try {
        res = await fetch(target, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(request),
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
      } catch (err) {
        throw new SpRequestError('unavailable', `SP at ${target.origin} unreachable`, { cause: err });
      }
      if (!res.ok) throw new SpRequestError('unavailable', `SP answered HTTP ${res.status}`);
      return (await res.json()) as SpWireResponse;
    },
  };
}
