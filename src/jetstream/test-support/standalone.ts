/** The standalone nats-server the int tests share (127.0.0.1:4222), and whether it answers with JetStream. */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll } from 'vitest';

export const NATS_URL = '127.0.0.1:4222';

/**
 * Null when a nats-server with JetStream answers at NATS_URL; otherwise the reason to skip, also printed (so a
 * skipped suite says why).
 */
export async function standaloneSkipReason(): Promise<string | null> {
  let nc: NatsConnection | undefined;
  let reason: string | null = null;
  try {
    nc = await connect({ servers: NATS_URL, timeout: 1000, reconnect: false });
    await (await jetstreamManager(nc, { timeout: 1000 })).getAccountInfo();
  } catch (err) {
    reason = `no nats-server with JetStream at ${NATS_URL} (${err instanceof Error ? err.message : String(err)})`;
    console.log(`skipped: ${reason}`);
  } finally {
    await nc?.close();
  }
  return reason;
}

/** A suite's connection to the shared server; set once its beforeAll ran. */
export interface Standalone {
  nc: NatsConnection;
  jsm: JetStreamManager;
  js: JetStreamClient;
  /** Streams the suite made: deleted after it (the server is shared). */
  streams: string[];
}

/**
 * Called inside a describe: connects before its tests, and after them deletes the streams they listed and
 * disconnects (after the suite's own afterAll hooks, which run first).
 */
export function useStandalone(): Standalone {
  const s: Partial<Standalone> & { streams: string[] } = { streams: [] };
  beforeAll(async () => {
    s.nc = await connect({ servers: NATS_URL, timeout: 2000 });
    s.jsm = await jetstreamManager(s.nc);
    s.js = jetstream(s.nc);
  });
  afterAll(async () => {
    for (const name of s.streams) await s.jsm?.streams.delete(name).catch(() => undefined);
    await s.nc?.close();
  });
  return s as Standalone;
}
