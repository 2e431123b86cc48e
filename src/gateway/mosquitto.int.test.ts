/**
 * The shipped Mosquitto configuration (deploy/mosquitto) under attack from the host and from a device (issue 9
 * items 9 and 11): a private mosquitto on its own port runs deploy/mosquitto/mosquitto.conf and hrvault.acl with
 * only the port and the file paths rewritten, a CA and broker certificate made here with openssl, and a password
 * file made with mosquitto_passwd. The real gateway and sensor fleet connect to it over TLS.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, ROOT } from '../test-support/processes.js';
import { deviceOfPatient, devicePassword, startSensorFleet, syntheticPatients } from '../sensor/index.js';
import { startGateway, type GatewayHandle } from './gateway.js';
import { ensureGatewayKeys } from './keys.js';

const CONF = join(ROOT, 'deploy', 'mosquitto', 'mosquitto.conf');
const ACL = join(ROOT, 'deploy', 'mosquitto', 'hrvault.acl');
const PREFIX = 'hrvault/v1';
const SECRET = 'device secret of the test';
/** The gateway user the shipped ACL names. */
const GATEWAY_USER = 'gw1';
const GATEWAY_PASSWORD = 'gateway password of the test';
const DEV1 = deviceOfPatient('P0001');
const DEV2 = deviceOfPatient('P0002');

function installed(bin: string, args: string[]): boolean {
  try {
    execFileSync(bin, args, { stdio: 'ignore' });
  } catch (err) {
    // `mosquitto -h` exits non-zero after printing its help: present. ENOENT: absent.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
  }
  return true;
}
const missing = [
  ['mosquitto', ['-h']],
  ['mosquitto_passwd', ['-h']],
  ['openssl', ['version']],
].filter(([bin, args]) => !installed(bin as string, args as string[])).map(([bin]) => bin as string);
if (missing.length > 0) console.log(`skipped: ${missing.join(', ')} not installed (apt-get install mosquitto openssl)`);

interface Broker {
  port: number;
  ca: string;
  log(): string;
  stop(): Promise<void>;
}

/** A CA and a broker certificate for 127.0.0.1 signed by it (P-256, valid one day). */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const f = (n: string): string => join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=hrvault test CA'], { stdio: 'ignore' });
  execFileSync('openssl', ['req', ...ec, '-keyout', f('broker.key'), '-out', f('broker.csr'), '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  execFileSync('openssl', ['x509', '-req', '-in', f('broker.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('broker.crt'), '-days', '1', '-extfile', f('ext.cnf')], { stdio: 'ignore' });
  return { ca: f('ca.crt'), cert: f('broker.crt'), key: f('broker.key') };
}

/** Starts mosquitto with the shipped configuration; only the listener's port and the file paths are rewritten. */
async function startShippedMosquitto(dir: string, users: Record<string, string>): Promise<Broker> {
  const certs = makeCertificates(dir);
  const passwd = join(dir, 'passwd');
  writeFileSync(passwd, '');
  for (const [u, p] of Object.entries(users)) execFileSync('mosquitto_passwd', ['-b', passwd, u, p]);
  const acl = join(dir, 'acl');
  writeFileSync(acl, readFileSync(ACL));
  const port = await freePort();
  const local: Record<string, string> = {
    cafile: certs.ca,
    certfile: certs.cert,
    keyfile: certs.key,
    password_file: passwd,
    acl_file: acl,
    persistence_location: `${join(dir)}/`,
  };
  const lines = readFileSync(CONF, 'utf8')
    .split('\n')
    .filter((l) => !/^(log_dest|log_type|user)\b/.test(l))
    .map((l) => {
      const m = /^(\w+)\s+(.*)$/.exec(l);
      if (m === null) return l;
      // The shipped listener, on a port of the test's own and on loopback; every other setting of it stays.
      if (m[1] === 'listener') return `listener ${port} 127.0.0.1`;
      return m[1]! in local ? `${m[1]} ${local[m[1]!]}` : l;
    });
  // As root mosquitto would switch to the mosquitto user, who cannot read the test's files.
  if (process.getuid?.() === 0) lines.push('user root');
  lines.push('log_dest stderr', 'log_type all');
  const confFile = join(dir, 'mosquitto.conf');
  writeFileSync(confFile, `${lines.join('\n')}\n`);
  let log = '';
  const child: ChildProcess = spawn('mosquitto', ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (/mosquitto version \S+ running/.test(log)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`mosquitto exited (${code}) while starting:\n${log}`)));
  });
  return {
    port,
    ca: readFileSync(certs.ca, 'utf8'),
    log: () => log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Connects and resolves to the client, or to the error when the broker refuses (no reconnect). */
async function tryConnect(url: string, o: mqtt.IClientOptions): Promise<MqttClient | (Error & { code?: number })> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...o }).catch((e: unknown) => e as Error & { code?: number });
}

describe.skipIf(missing.length > 0)('the shipped Mosquitto configuration (deploy/mosquitto)', () => {
  let dir: string;
  let broker: Broker;
  let gw: GatewayHandle;
  let tls: string;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hrv-mosq-shipped-'));
    broker = await startShippedMosquitto(dir, {
      [GATEWAY_USER]: GATEWAY_PASSWORD,
      [DEV1]: devicePassword(SECRET, DEV1),
      [DEV2]: devicePassword(SECRET, DEV2),
    });
    tls = `mqtts://127.0.0.1:${broker.port}`;
    const keys = ensureGatewayKeys(join(dir, 'keys'));
    gw = await startGateway({
      id: 'gw1',
      dataDir: join(dir, 'gw'),
      mqtt: { url: tls, ca: broker.ca, topicPrefix: PREFIX, username: GATEWAY_USER, password: GATEWAY_PASSWORD },
      devices: { [DEV1]: 'P0001', [DEV2]: 'P0002' },
      batchIntervalMs: 60_000,
      mode: 'plain',
      // Nothing listens here: this test looks at intake only.
      sftp: { host: '127.0.0.1', port: 1, privateKey: keys.sshPrivateKey },
      keys,
      bucketBytes: [1024],
      retryMaxMs: 60_000,
      logger: pino({ level: 'silent' }),
    });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) await c.endAsync(true);
    await gw?.stop(2000);
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const device = async (user: string, clientId = user): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(tls, { ca: broker.ca, username: user, password: devicePassword(SECRET, user), clientId, reconnectPeriod: 0 });
    clients.push(c);
    return c;
  };
  let seq = 0;
  const beat = (patient: string): string => JSON.stringify({ v: 1, patient, seq: ++seq, t_ms: Date.now() - 60_000 + seq * 800, rr_ms: 800, epoch: 1 });

  it('refuses an anonymous login and a wrong password, over TLS', async () => {
    const anonymous = await tryConnect(tls, { ca: broker.ca });
    expect(anonymous).toBeInstanceOf(Error);
    expect((anonymous as { code?: number }).code, 'CONNACK: not authorized').toBe(5);
    const wrong = await tryConnect(tls, { ca: broker.ca, username: DEV1, password: 'guessed' });
    expect(wrong).toBeInstanceOf(Error);
    expect([4, 5]).toContain((wrong as { code?: number }).code);
  });

  it('refuses plain TCP: the only listener speaks TLS', async () => {
    const plain = await tryConnect(`mqtt://127.0.0.1:${broker.port}`, { username: DEV1, password: devicePassword(SECRET, DEV1) });
    expect(plain).toBeInstanceOf(Error);
    expect(readFileSync(CONF, 'utf8').match(/^listener\b.*$/gm), 'one listener').toHaveLength(1);
  });

  it("delivers a device's beats to the gateway over TLS, and not one it publishes on another device's topic", async () => {
    const before = gw.stats().received;
    const forger = await device(DEV1);
    const dropped = new Promise<void>((r) => forger.once('close', () => r()));
    // A well-formed beat of P0002 on P0002's topic, from P0001's login: the gateway would accept it. Mosquitto
    // refuses it and hangs up on the client.
    await forger.publishAsync(`${PREFIX}/${DEV2}/beats`, beat('P0002'), { qos: 0 });
    await dropped;
    expect(broker.log()).toMatch(new RegExp(`Denied PUBLISH from ${DEV1} .*'${PREFIX}/${DEV2}/beats'`));
    // Then one on its own topic, on a new connection: taken in after the refused one, delivered.
    const d1 = await device(DEV1);
    await d1.publishAsync(`${PREFIX}/${DEV1}/beats`, beat('P0001'), { qos: 1 });
    await expect.poll(() => gw.stats().received - before, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    expect(gw.stats().received - before, 'only the beat on its own topic arrived').toBe(1);
  });

  it('lets a device read no beat: not by a wildcard, not by a beat topic, not its own', async () => {
    const spy = await device(DEV2);
    const got: string[] = [];
    spy.on('message', (topic) => got.push(topic));
    // Mosquitto grants the SUBSCRIBE and checks read access per message, on delivery.
    await spy.subscribeAsync(['#', 'hrvault/#', `${PREFIX}/+/beats`, `${PREFIX}/${DEV1}/beats`, `${PREFIX}/${DEV2}/beats`], { qos: 1 });
    const before = gw.stats().received;
    const d1 = await device(DEV1);
    await d1.publishAsync(`${PREFIX}/${DEV1}/beats`, beat('P0001'), { qos: 1 });
    await spy.publishAsync(`${PREFIX}/${DEV2}/beats`, beat('P0002'), { qos: 1 });
    await expect.poll(() => gw.stats().received - before, { timeout: 10_000 }).toBe(2);
    // The broker queued each beat to every subscriber when it took it in; a PUBACK the spy asks for now is written
    // to it after anything queued for it then.
    await spy.publishAsync(`${PREFIX}/${DEV2}/beats`, beat('P0002'), { qos: 1 });
    expect(got).toEqual([]);
    await expect.poll(() => gw.stats().received - before, { timeout: 10_000 }).toBe(3);
    expect(broker.log()).toMatch(new RegExp(`Denied PUBLISH to ${DEV2}|${DEV2} 1 #`));
  });

  it("binds the client id to the login: a device connecting under the gateway's client id does not take over its session", async () => {
    const before = gw.stats().received;
    // The gateway's configured id, and its login name, which Mosquitto uses as its id.
    for (const id of ['hrvault-gateway-gw1', GATEWAY_USER]) {
      const c = await device(DEV2, id);
      await c.endAsync();
    }
    expect(broker.log()).not.toMatch(/Client (gw1|hrvault-gateway-gw1) already connected/);
    const d1 = await device(DEV1);
    await d1.publishAsync(`${PREFIX}/${DEV1}/beats`, beat('P0001'), { qos: 1 });
    await expect.poll(() => gw.stats().received, { timeout: 10_000 }).toBe(before + 1);
  });

  it('the sensor fleet publishes over TLS and the gateway takes every acknowledged beat', async () => {
    // An earlier test's beat is counted as accepted only once its group commit is durable (then it is acknowledged):
    // wait for that, or it would be counted as one of the fleet's (CI saw 22 accepted for 21 published).
    await expect.poll(() => gw.stats().pubacks, { timeout: 10_000 }).toBe(gw.stats().received);
    const before = gw.stats().accepted;
    const fleet = await startSensorFleet({
      url: tls,
      ca: broker.ca,
      topicPrefix: PREFIX,
      patients: syntheticPatients(2, 5),
      speed: 40,
      durationS: 10,
      password: (d) => devicePassword(SECRET, d),
      maxInflight: 100,
    });
    await fleet.done;
    await fleet.stop();
    const published = fleet.stats().published;
    expect(published).toBeGreaterThan(2 * 8);
    await expect.poll(() => gw.stats().accepted - before, { timeout: 10_000 }).toBe(published);
  });
});
