/**
 * The demo's in-process MQTT broker (aedes) with per-client credentials: each sensor device may publish
 * only on its own beat topic, and only the gateway may subscribe. Production uses Mosquitto/EMQX with the
 * same topics and an ACL file.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { Aedes } from 'aedes';
import { beatTopic } from '../sensor/index.js';

export interface EmbeddedBroker {
  url: string;
  /** Connections refused for bad credentials, and publishes refused for the wrong topic. */
  refused(): { logins: number; publishes: number };
  close(): Promise<void>;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Starts aedes on 127.0.0.1 (ephemeral port unless given); `credentials` maps usernames to passwords. */
export async function startEmbeddedBroker(opts: {
  credentials: (username: string) => string | undefined;
  gatewayUsernames: string[];
  topicPrefix: string;
  port?: number;
}): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker();
  let refusedLogins = 0;
  let refusedPublishes = 0;
  broker.authenticate = (client, username, password, done) => {
    const expected = username === undefined ? undefined : opts.credentials(username);
    if (expected === undefined || password === undefined || !same(password.toString(), expected)) {
      refusedLogins++;
      const err = Object.assign(new Error('bad username or password'), { returnCode: 4 });
      done(err as Parameters<typeof done>[0], false);
      return;
    }
    (client as unknown as { hrvUser: string }).hrvUser = username!;
    done(null, true);
  };
  broker.authorizePublish = (client, packet, done) => {
    const user = (client as unknown as { hrvUser?: string } | null)?.hrvUser;
    if (user === undefined || packet.topic !== beatTopic(opts.topicPrefix, user)) {
      refusedPublishes++;
      done(new Error(`client may publish only on its own beat topic`));
      return;
    }
    done(null);
  };
  broker.authorizeSubscribe = (client, sub, done) => {
    const user = (client as unknown as { hrvUser?: string } | null)?.hrvUser;
    if (user === undefined || !opts.gatewayUsernames.includes(user)) {
      done(new Error('only gateways may subscribe'), null);
      return;
    }
    done(null, sub);
  };
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    refused: () => ({ logins: refusedLogins, publishes: refusedPublishes }),
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
