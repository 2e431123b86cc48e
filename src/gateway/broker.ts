/**
 * The demo's in-process MQTT broker (aedes) with per-client credentials: each sensor device may publish
 * only on its own beat topic, and only the gateway may subscribe. A client id is bound to the account that logs in
 * with it (see clientIdAllowed), so no device can take over the gateway's persistent session. Production uses
 * Mosquitto with the same topics, an ACL file and `use_username_as_clientid` (deploy/mosquitto).
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { Aedes } from 'aedes';
import { beatTopic } from '../sensor/index.js';

/** Client ids under this prefix belong to the gateways' accounts only (the gateway's default is hrvault-gateway-<id>). */
export const GATEWAY_CLIENT_ID_PREFIX = 'hrvault-gateway-';

/**
 * Whether `username` may connect under `clientId`: its own name, or its name, `:` and a suffix (`:` appears in no
 * device id, so no account's ids overlap another's). Ids under GATEWAY_CLIENT_ID_PREFIX are the gateways' alone.
 */
export function clientIdAllowed(clientId: string, username: string, isGateway: (user: string) => boolean): boolean {
  if (clientId.startsWith(GATEWAY_CLIENT_ID_PREFIX)) return isGateway(username);
  return clientId === username || clientId.startsWith(`${username}:`);
}

export interface EmbeddedBroker {
  url: string;
  /** Connections refused for bad credentials or a client id not theirs, and publishes refused for the wrong topic. */
  refused(): { logins: number; publishes: number; clientIds: number };
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
  let refusedClientIds = 0;
  broker.authenticate = (client, username, password, done) => {
    const expected = username === undefined ? undefined : opts.credentials(username);
    if (expected === undefined || password === undefined || !same(password.toString(), expected)) {
      refusedLogins++;
      const err = Object.assign(new Error('bad username or password'), { returnCode: 4 });
      done(err as Parameters<typeof done>[0], false);
      return;
    }
    // Checked before aedes looks the id up: a refused CONNECT never disconnects the session holding that id.
    if (!clientIdAllowed(client.id, username!, (u) => opts.gatewayUsernames.includes(u))) {
      refusedClientIds++;
      const err = Object.assign(new Error(`client id ${client.id} is not ${username!}'s`), { returnCode: 5 });
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
    refused: () => ({ logins: refusedLogins, publishes: refusedPublishes, clientIds: refusedClientIds }),
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
