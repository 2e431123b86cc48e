/**
 * The one way a host or worker connects to NATS: every node of a cluster as a seed (the client fails over and
 * keeps reconnecting for ever: a worker must outlive a node's restart), TLS when a CA is configured.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ConfigError } from '../errors.js';

export interface NatsConnectOptions {
  /** Server URLs, comma-separated. */
  url: string;
  /** Shown in the servers' connection lists (`hrvault-worker-<id>`). */
  name: string;
  tlsCaFile?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** How long the first connection may take before start-up fails (ms, default 10 000). */
  timeoutMs?: number;
}

/** Connects to NATS; a bad URL list is a ConfigError, an unreachable cluster fails after `timeoutMs`. */
export async function connectNats(o: NatsConnectOptions): Promise<NatsConnection> {
  const servers = o.url
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (servers.length === 0) throw new ConfigError('jetstream.url names no server');
  for (const s of servers)
    if (!/^(nats|tls):\/\/[^\s/]+$/.test(s) && !/^[^\s/:]+:\d+$/.test(s))
      throw new ConfigError(
        `jetstream.url: '${s}' is not a NATS server URL (nats://host:port or tls://host:port)`,
      );
  const tls =
    o.tlsCaFile || o.tlsCertFile
      ? {
          ...(o.tlsCaFile ? { caFile: o.tlsCaFile } : {}),
          ...(o.tlsCertFile ? { certFile: o.tlsCertFile, keyFile: o.tlsKeyFile ?? '' } : {}),
        }
      : undefined;
  return connect({
    servers,
    name: o.name,
    timeout: o.timeoutMs ?? 10_000,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 5000,
    ...(tls ? { tls } : {}),
  });
}

/**
 * Drains `nc` (pending publishes flushed, subscriptions ended) but waits at most `timeoutMs` for it, then closes it:
 * a process stopping while its servers are unreachable (a partitioned worker) must still exit.
 */
export async function closeNats(nc: NatsConnection, timeoutMs = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([nc.drain().catch(() => undefined), gaveUp]);
  clearTimeout(timer);
  if (!nc.isClosed()) await nc.close().catch(() => undefined);
}
