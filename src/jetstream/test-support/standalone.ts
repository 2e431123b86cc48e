/** The standalone nats-server the int tests share (127.0.0.1:4222), and whether it answers with JetStream. */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';

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
