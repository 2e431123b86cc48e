/**
 * A TCP fault proxy for the network scenarios: it forwards 127.0.0.1:<port> to a target port, and on command
 * - cut: resets every open connection and refuses (accepts and resets) new ones, as a pulled cable with an
 *   active RST-sending firewall does;
 * - stall: stops forwarding in both directions without closing anything (a silent black hole: the peers see
 *   an open connection that carries nothing, the case only keepalives and timeouts detect); new connections
 *   are accepted and held without reaching the target;
 * - heal: forwards again. Stalled connections resume (what a healed link does: TCP retransmits what it held),
 *   unless `abandonStalled`, in which case they stay black-holed forever (a NAT or firewall that lost their
 *   state) and only new connections work.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export type ProxyMode = 'pass' | 'cut' | 'stall';

export interface FaultProxy {
  port: number;
  mode(): ProxyMode;
  cut(): void;
  stall(): void;
  heal(opts?: { abandonStalled?: boolean }): void;
  /** Counters; `heldBytes`: read from a client and not forwarded (stalled, or waiting for the target). */
  stats(): { connections: number; reset: number; stalled: number; bytesForwarded: number; heldBytes: number };
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
  /** Bytes read from the client before the upstream connection existed or while stalled. */
  held: Buffer[];
  abandoned: boolean;
}

/** Starts a proxy on an ephemeral loopback port forwarding to 127.0.0.1:`targetPort`. */
export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  let mode: ProxyMode = 'pass';
  const pairs = new Set<Pair>();
  const st = { connections: 0, reset: 0, stalled: 0, bytesForwarded: 0 };

  const destroy = (p: Pair): void => {
    p.client.resetAndDestroy();
    p.upstream?.resetAndDestroy();
    pairs.delete(p);
  };
  const forwarding = (p: Pair): boolean => mode === 'pass' && !p.abandoned;

  const openUpstream = (p: Pair): void => {
    const up = connect({ host: '127.0.0.1', port: targetPort });
    p.upstream = up;
    up.setNoDelay(true);
    up.on('data', (d: Buffer) => {
      // A stalled link carries nothing: stop reading, so the target's writes back up as they would.
      if (!forwarding(p)) {
        up.pause();
        up.unshift(d);
        return;
      }
      st.bytesForwarded += d.length;
      p.client.write(d);
    });
    up.on('connect', () => {
      for (const b of p.held.splice(0)) up.write(b);
    });
    up.on('error', () => destroy(p));
    up.on('close', () => {
      if (forwarding(p)) p.client.end();
    });
  };

  const server: Server = createServer((client) => {
    st.connections++;
    const p: Pair = { client, upstream: undefined, held: [], abandoned: false };
    pairs.add(p);
    client.setNoDelay(true);
    client.on('error', () => destroy(p));
    client.on('close', () => {
      if (forwarding(p)) p.upstream?.end();
      pairs.delete(p);
    });
    if (mode === 'cut') {
      st.reset++;
      destroy(p);
      return;
    }
    client.on('data', (d: Buffer) => {
      if (!forwarding(p) || p.upstream === undefined || p.upstream.connecting) {
        if (!forwarding(p)) client.pause();
        p.held.push(d);
        return;
      }
      st.bytesForwarded += d.length;
      p.upstream.write(d);
    });
    if (mode === 'pass') openUpstream(p);
    else {
      st.stalled++;
      client.pause();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));

  return {
    port: (server.address() as AddressInfo).port,
    mode: () => mode,
    cut() {
      mode = 'cut';
      for (const p of [...pairs]) {
        st.reset++;
        destroy(p);
      }
    },
    stall() {
      mode = 'stall';
      for (const p of pairs) {
        st.stalled++;
        p.client.pause();
        p.upstream?.pause();
      }
    },
    heal(opts = {}) {
      const wasStalled = mode === 'stall';
      if (wasStalled && opts.abandonStalled === true) for (const p of pairs) p.abandoned = true;
      mode = 'pass';
      for (const p of [...pairs]) {
        if (p.abandoned) continue;
        if (p.upstream === undefined) openUpstream(p);
        else {
          for (const b of p.held.splice(0)) p.upstream.write(b);
          p.upstream.resume();
        }
        p.client.resume();
      }
    },
    stats: () => ({ ...st, heldBytes: [...pairs].reduce((n, p) => n + p.held.reduce((m, b) => m + b.length, 0), 0) }),
    async close() {
      for (const p of [...pairs]) destroy(p);
      await new Promise((r) => server.close(r));
    },
  };
}
