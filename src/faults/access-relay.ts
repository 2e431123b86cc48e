/**
 * A relay on loopback between the CSP and the SP's wire endpoint (`/sp/v1/wire`), for the key-renewal scenario:
 * it forwards every message unchanged until told to corrupt one, then flips one character of the ciphertext of
 * the next sealed request (the SP's AEAD check fails and it answers `integrity`) or of the next sealed answer (the
 * CSP's own check fails) — what a faulty link or an attacker on the path does. Either way the CSP's SpLink
 * renews K_st and K_rt by a new handshake and resends under the new keys.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WireRelay {
  /** The wire URL to give the CSP as `--sp-url`. */
  url: string;
  /** The next sealed request (to the SP) or answer (to the CSP) gets one ciphertext character flipped. */
  corruptNext(what: 'request' | 'answer'): void;
  /** How many messages were corrupted so far, by direction. */
  corrupted(): { request: number; answer: number };
  close(): Promise<void>;
}

interface Sealed {
  kind?: unknown;
  msg?: { ct?: unknown };
}

/** Flips one base64url character in the middle of a sealed message's ciphertext (in place); false if it has none. */
function flip(m: Sealed): boolean {
  if (m.kind !== 'sealed' || typeof m.msg?.ct !== 'string' || m.msg.ct.length === 0) return false;
  const ct = m.msg.ct;
  const i = Math.floor(ct.length / 2);
  m.msg.ct = `${ct.slice(0, i)}${ct[i] === 'A' ? 'B' : 'A'}${ct.slice(i + 1)}`;
  return true;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the relay in front of the SP whose wire URL `target()` names (read per request: the SP may move). */
export async function startWireRelay(target: () => string): Promise<WireRelay> {
  const pending = { request: 0, answer: 0 };
  const done = { request: 0, answer: 0 };
  const server: Server = createServer((req, res) => {
    void (async () => {
      try {
        const raw = await body(req);
        let out = raw;
        if (pending.request > 0) {
          const m = JSON.parse(raw) as Sealed;
          if (flip(m)) {
            pending.request--;
            done.request++;
            out = JSON.stringify(m);
          }
        }
        const upstream = await fetch(target(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: out, signal: AbortSignal.timeout(30_000) });
        let answer = await upstream.text();
        if (pending.answer > 0 && upstream.ok) {
          const m = JSON.parse(answer) as Sealed;
          if (flip(m)) {
            pending.answer--;
            done.answer++;
            answer = JSON.stringify(m);
          }
        }
        res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(answer);
      } catch (err) {
        // The SP is down (killed, restarting): the CSP sees what it would see without the relay, a failed request.
        res.writeHead(502, { 'content-type': 'text/plain' }).end(`relay: ${err instanceof Error ? err.message : String(err)}`);
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/sp/v1/wire`,
    corruptNext(what) {
      pending[what]++;
    },
    corrupted: () => ({ ...done }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
