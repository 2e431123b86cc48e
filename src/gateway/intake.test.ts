import { mkdtempSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { deviceOfPatient, devicePassword, startSensorFleet, syntheticPatients } from '../sensor/index.js';
import {
  startEmbeddedBroker,
  startGateway,
  Spool,
  type EmbeddedBroker,
  type GatewayHandle,
  type GatewayOptions,
} from './index.js';
import { nodeSpoolIo, type SpoolIo } from './spool.js';
import { ensureGatewayKeys } from './keys.js';

const SECRET = 'test-secret';
const PREFIX = 'hrvault/v1';
const cleanup: (() => Promise<void>)[] = [];

/** Waits until the gateway has taken in `n` messages (the broker acks the sensor before it delivers). */
async function received(gw: GatewayHandle, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (gw.stats().received < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** `via` puts something between the gateway and the broker: it gets the broker's URL and returns the one the gateway uses. */
async function setup(
  patients: number,
  extra: Partial<GatewayOptions> = {},
  via: (brokerUrl: string) => Promise<string> = async (u) => u,
): Promise<{
  broker: EmbeddedBroker;
  gw: GatewayHandle;
  dir: string;
  ps: ReturnType<typeof syntheticPatients>;
}> {
  const ps = syntheticPatients(patients, 3);
  const broker = await startEmbeddedBroker({
    credentials: (u) =>
      u === 'gw1' ? 'gwpass' : u.startsWith('dev-') ? devicePassword(SECRET, u) : undefined,
    gatewayUsernames: ['gw1'],
    topicPrefix: PREFIX,
  });
  cleanup.push(() => broker.close());
  const dir = mkdtempSync(join(tmpdir(), 'hrv-gw-'));
  const keys = ensureGatewayKeys(join(dir, 'keys'));
  const gw = await startGateway({
    id: 'gw1',
    dataDir: join(dir, 'gw'),
    mqtt: { url: await via(broker.url), topicPrefix: PREFIX, username: 'gw1', password: 'gwpass' },
    devices: Object.fromEntries(ps.map((p) => [deviceOfPatient(p.patient), p.patient])),
    batchIntervalMs: 60_000,
    mode: 'plain',
    // Nothing listens here: uploads fail and stay pending, which is what this test inspects.
    sftp: { host: '127.0.0.1', port: 1, privateKey: keys.sshPrivateKey },
    keys,
    bucketBytes: [1024],
    retryMaxMs: 60_000,
    logger: pino({ level: 'silent' }),
    ...extra,
  });
  cleanup.push(() => gw.stop(1000));
  return { broker, gw, dir, ps };
}

/** 30 simulated seconds of the patients' beats at 40× speed. */
function fleetOf(broker: EmbeddedBroker, ps: ReturnType<typeof syntheticPatients>): ReturnType<typeof startSensorFleet> {
  return startSensorFleet({
    url: broker.url,
    topicPrefix: PREFIX,
    patients: ps,
    speed: 40,
    durationS: 30,
    password: (d) => devicePassword(SECRET, d),
    maxInflight: 100,
  });
}

describe('gateway intake', () => {
  it('spools every acknowledged beat exactly once and cuts one file per patient', async () => {
    const { gw, broker, dir, ps } = await setup(5);
    const fleet = await fleetOf(broker, ps);
    await fleet.done;
    await fleet.stop();
    const published = fleet.stats().published;
    expect(published).toBeGreaterThan(5 * 25);
    await received(gw, published);
    // `received` counts on arrival, `accepted` after the fsync: let the last one land.
    await expect.poll(() => gw.stats().accepted, { timeout: 5000 }).toBe(published);
    expect(gw.stats().duplicates).toBe(0);
    await gw.flush(500);
    await gw.stop();
    cleanup.pop();
    const pending = new Spool(join(dir, 'gw')).pending();
    expect(pending).toHaveLength(5);
    for (const b of pending) {
      expect(b.seq).toBe(1);
      expect(b.beats.length).toBe(fleet.stats().perPatient[b.patient]);
      expect(b.beats.map((x) => x.s)).toEqual(b.beats.map((_, i) => i + 1));
    }
  });

  it('counts malformed, impossible and unknown-device beats without losing accepted ones', async () => {
    const { gw, broker } = await setup(1);
    const dev = deviceOfPatient('P0001');
    const c = await mqtt.connectAsync(broker.url, {
      username: dev,
      password: devicePassword(SECRET, dev),
      clientId: dev,
    });
    const stranger = await mqtt.connectAsync(broker.url, {
      username: 'dev-X999',
      password: devicePassword(SECRET, 'dev-X999'),
      clientId: 'dev-X999',
    });
    const topic = `${PREFIX}/${dev}/beats`;
    await c.publishAsync(topic, JSON.stringify({ v: 1, patient: 'P0001', seq: 1, t_ms: 1000, rr_ms: 800 }), {
      qos: 1,
    });
    await c.publishAsync(topic, 'not json', { qos: 1 });
    await c.publishAsync(topic, JSON.stringify({ v: 2, patient: 'P0001', seq: 2, t_ms: 1800, rr_ms: 800 }), {
      qos: 1,
    });
    await c.publishAsync(topic, JSON.stringify({ v: 1, patient: 'P0001', seq: 3, t_ms: 1800, rr_ms: 40 }), {
      qos: 1,
    });
    await c.publishAsync(topic, JSON.stringify({ v: 1, patient: 'P0002', seq: 4, t_ms: 1800, rr_ms: 800 }), {
      qos: 1,
    });
    await stranger.publishAsync(
      `${PREFIX}/dev-X999/beats`,
      JSON.stringify({ v: 1, patient: 'X999', seq: 1, t_ms: 1000, rr_ms: 800 }),
      { qos: 1 },
    );
    await c.publishAsync(topic, JSON.stringify({ v: 1, patient: 'P0001', seq: 1, t_ms: 1000, rr_ms: 800 }), {
      qos: 1,
    });
    await c.publishAsync(topic, JSON.stringify({ v: 1, patient: 'P0001', seq: 5, t_ms: 2600, rr_ms: 800 }), {
      qos: 1,
    });
    await c.endAsync();
    await stranger.endAsync();
    await received(gw, 8);
    await expect.poll(() => gw.stats().accepted, { timeout: 5000 }).toBe(2);
    const s = gw.stats();
    expect(s).toMatchObject({
      received: 8,
      accepted: 2,
      duplicates: 1,
      malformed: 2,
      impossible: 1,
      unknown_device: 2,
    });
    expect(s.buffered_beats).toBe(2);
  });

  it("refuses a device login with the wrong password and a publish on another device's topic", async () => {
    const { broker } = await setup(2);
    await expect(
      mqtt.connectAsync(broker.url, { username: 'dev-P0001', password: 'wrong', reconnectPeriod: 0 }),
    ).rejects.toThrow();
    const c = await mqtt.connectAsync(broker.url, {
      username: 'dev-P0001',
      password: devicePassword(SECRET, 'dev-P0001'),
      clientId: 'dev-P0001',
    });
    c.on('error', () => undefined);
    await Promise.race([
      c.publishAsync(`${PREFIX}/dev-P0002/beats`, '{}', { qos: 1 }).catch(() => undefined),
      new Promise((r) => setTimeout(r, 300)),
    ]);
    expect(broker.refused()).toMatchObject({ logins: 1, publishes: 1 });
    await c.endAsync(true);
  });
});

/** Node's fs with two switches: hold every fdatasync until released, and fail every write as a full disk does. */
function switchableIo(): SpoolIo & { full: boolean; hold: boolean; held: (() => void)[]; release(): void } {
  const io = {
    full: false,
    hold: false,
    held: [] as (() => void)[],
    release(): void {
      io.hold = false;
      for (const f of io.held.splice(0)) f();
    },
    write: (fd: number, buf: Buffer, off: number, len: number, pos: number): number => {
      if (io.full) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return nodeSpoolIo.write(fd, buf, off, len, pos);
    },
    fdatasync: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void => {
      if (io.hold) io.held.push(() => nodeSpoolIo.fdatasync(fd, cb));
      else nodeSpoolIo.fdatasync(fd, cb);
    },
    writeFileDurable: async (file: string, data: string, opts?: { syncDir?: boolean }): Promise<void> => {
      if (io.full) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      await nodeSpoolIo.writeFileDurable(file, data, opts);
    },
  };
  return io;
}

describe('gateway group commit and a full spool', () => {
  it('sends no PUBACK before the fdatasync that covers its beat', async () => {
    const io = switchableIo();
    io.hold = true;
    const { gw, broker } = await setup(1, { spoolIo: io });
    const dev = deviceOfPatient('P0001');
    const c = await mqtt.connectAsync(broker.url, { username: dev, password: devicePassword(SECRET, dev), clientId: dev });
    cleanup.push(() => c.endAsync());
    for (const seq of [1, 2, 3])
      await c.publishAsync(`${PREFIX}/${dev}/beats`, JSON.stringify({ v: 1, patient: 'P0001', seq, t_ms: 1000 + seq * 800, rr_ms: 800 }), { qos: 1 });
    await received(gw, 3);
    await expect.poll(() => io.held.length).toBeGreaterThan(0);
    expect(gw.stats()).toMatchObject({ received: 3, accepted: 0, pubacks: 0 });
    io.release();
    await expect.poll(() => gw.stats().pubacks).toBe(3);
    expect(gw.stats().accepted).toBe(3);
  });

  it('on a full disk pauses intake without acknowledging, resumes by itself, and batches every beat exactly once', async () => {
    const io = switchableIo();
    const { gw, broker, dir, ps } = await setup(3, { spoolIo: io });
    const fleet = await fleetOf(broker, ps);
    await expect.poll(() => gw.stats().accepted, { timeout: 10_000 }).toBeGreaterThan(10);
    io.full = true;
    await expect.poll(() => gw.stats().intake_paused, { timeout: 10_000 }).toBe(true);
    const pubacks = gw.stats().pubacks;
    // A cut while full changes nothing.
    await gw.flush(200);
    expect(gw.stats().pending_files).toBe(0);
    expect(gw.stats().pubacks).toBe(pubacks);
    io.full = false;
    await fleet.done;
    await fleet.stop();
    const published = fleet.stats().published;
    await expect.poll(() => gw.stats().accepted, { timeout: 10_000 }).toBe(published);
    expect(gw.stats()).toMatchObject({ intake_paused: false, intake_pauses: 1, seq_gaps: 0 });
    expect(gw.stats().spool_write_failures).toBeGreaterThan(0);
    await gw.flush(500);
    await gw.stop();
    cleanup.pop();
    const pending = new Spool(join(dir, 'gw')).pending();
    const got = pending.flatMap((b) => b.beats.map((x) => `${b.patient}:${x.s}`)).sort();
    const want = ps.flatMap((p) => Array.from({ length: fleet.stats().perPatient[p.patient]! }, (_, i) => `${p.patient}:${i + 1}`)).sort();
    expect(got).toEqual(want);
  });
});

/** A TCP server that accepts and then says nothing: an SFTP host that stalls (its sockets are closed at cleanup). */
async function stalledServer(): Promise<number> {
  const sockets = new Set<Socket>();
  const srv = createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  cleanup.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });
  return (srv.address() as AddressInfo).port;
}

async function publishBeats(broker: EmbeddedBroker, seqs: number[]): Promise<void> {
  const dev = deviceOfPatient('P0001');
  const c = await mqtt.connectAsync(broker.url, { username: dev, password: devicePassword(SECRET, dev), clientId: dev });
  for (const seq of seqs)
    await c.publishAsync(`${PREFIX}/${dev}/beats`, JSON.stringify({ v: 1, patient: 'P0001', seq, t_ms: 1000 + seq * 800, rr_ms: 800 }), { qos: 1 });
  await c.endAsync();
}

/** A gateway whose SFTP host stalls. */
async function stalledGateway(batchIntervalMs: number, timeoutMs: number): ReturnType<typeof setup> {
  const port = await stalledServer();
  const keys = ensureGatewayKeys(join(mkdtempSync(join(tmpdir(), 'hrv-gw-')), 'keys'));
  return setup(1, { batchIntervalMs, sftp: { host: '127.0.0.1', port, privateKey: keys.sshPrivateKey, timeoutMs } });
}

describe('gateway against a stalled SFTP host', () => {
  it('keeps cutting on its timer while an upload hangs', async () => {
    const { gw, broker } = await stalledGateway(100, 60_000);
    await publishBeats(broker, [1]);
    await expect.poll(() => gw.stats().files_cut).toBe(1);
    await publishBeats(broker, [2]);
    // The first upload is still connecting to a host that never answers; the second cut must not wait for it.
    await expect.poll(() => gw.stats().files_cut, { timeout: 5000 }).toBe(2);
    expect(gw.stats().files_uploaded).toBe(0);
  });

  it('fails an SFTP operation after its timeout and retries', async () => {
    const { gw, broker } = await stalledGateway(100, 300);
    await publishBeats(broker, [1]);
    await expect.poll(() => gw.stats().upload_failures, { timeout: 5000 }).toBeGreaterThan(0);
    expect(gw.stats().pending_files).toBe(1);
  });

  it('flushes and stops within their deadlines while an upload hangs; the batch stays pending', async () => {
    const { gw, broker, dir } = await stalledGateway(60_000, 60_000);
    await publishBeats(broker, [1, 2]);
    await expect.poll(() => gw.stats().accepted).toBe(2);
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<string>((r) => (timer = setTimeout(() => r('hung'), 5000)));
    const outcome = await Promise.race([
      (async () => {
        await gw.flush(300);
        await gw.stop(300);
        return 'stopped';
      })(),
      hung,
    ]);
    clearTimeout(timer);
    expect(outcome).toBe('stopped');
    expect(new Spool(join(dir, 'gw')).pending().map((b) => b.beats.length)).toEqual([2]);
  });
});

describe('gateway edge accounting', () => {
  it('recognises a sequence restart by its boot epoch, counts gaps, and quarantines an impossible time alone', async () => {
    const { gw, broker, dir } = await setup(1);
    const dev = deviceOfPatient('P0001');
    const c = await mqtt.connectAsync(broker.url, { username: dev, password: devicePassword(SECRET, dev), clientId: dev });
    cleanup.push(() => c.endAsync());
    const now = Date.now();
    const send = (epoch: number, seq: number, t: number): Promise<unknown> =>
      c.publishAsync(`${PREFIX}/${dev}/beats`, JSON.stringify({ v: 1, patient: 'P0001', seq, t_ms: t, rr_ms: 800, epoch }), { qos: 1 });
    await send(100, 1, now - 60_000);
    await send(100, 2, now - 59_200);
    // The device reboots: its counter starts again at 1, under a new epoch.
    await send(200, 1, now - 10_000);
    await send(200, 2, now - 9_200);
    // 3 and 4 never arrive; 6 claims a time a day ahead; 7 steps back before 5.
    await send(200, 5, now - 6_800);
    await send(200, 6, now + 86_400_000);
    await send(200, 7, now - 50_000);
    await send(200, 8, now - 5_200);
    await received(gw, 8);
    await expect.poll(() => gw.stats().accepted + gw.stats().quarantined).toBe(8);
    expect(gw.stats()).toMatchObject({ accepted: 6, quarantined: 2, duplicates: 0, seq_gaps: 2, epoch_restarts: 1 });
    // 3 and 4 will never come: the end of the run gives the gap up (otherwise 5 and 8 wait for them).
    await gw.flush(300, { releaseHeld: true });
    await gw.stop(1000);
    const [batch] = new Spool(join(dir, 'gw')).pending();
    expect(batch!.beats.map((b) => `${b.e}:${b.s}`)).toEqual(['100:1', '100:2', '200:1', '200:2', '200:5', '200:8']);
  });
});

describe('embedded broker client ids (issue 9 item 11)', () => {
  it("refuses a device with valid credentials that connects under the gateway's client id (not authorized); the gateway keeps its session and its beats", async () => {
    const { gw, broker } = await setup(2);
    const dev = deviceOfPatient('P0001');
    const c = await mqtt.connectAsync(broker.url, { username: dev, password: devicePassword(SECRET, dev), clientId: dev });
    cleanup.push(() => c.endAsync());
    const send = (seq: number): Promise<unknown> =>
      c.publishAsync(`${PREFIX}/${dev}/beats`, JSON.stringify({ v: 1, patient: 'P0001', seq, t_ms: Date.now() - 10_000 + seq * 800, rr_ms: 800 }), { qos: 1 });
    await send(1);
    await received(gw, 1);
    const other = deviceOfPatient('P0002');
    for (const [clientId, user] of [
      ['hrvault-gateway-gw1', dev],
      [other, dev],
      [`${other}:x`, dev],
      [`${dev}-x`, dev],
    ] as const) {
      const err = await mqtt
        .connectAsync(broker.url, { username: user, password: devicePassword(SECRET, user), clientId, reconnectPeriod: 0 })
        .then(
          async (hijacker) => {
            await hijacker.endAsync(true);
            return undefined;
          },
          (e: unknown) => e as { code?: number },
        );
      expect(err, `${user} as ${clientId}`).toBeDefined();
      expect(err!.code, `${user} as ${clientId}: CONNACK not authorized`).toBe(5);
    }
    expect(broker.refused().clientIds).toBe(4);
    // The gateway's session was never taken over: the next beats reach it on the same connection.
    for (const seq of [2, 3]) await send(seq);
    await received(gw, 3);
    await expect.poll(() => gw.stats().accepted).toBe(3);
    // The device's own id, and its id with a suffix, are its to use.
    const again = await mqtt.connectAsync(broker.url, { username: dev, password: devicePassword(SECRET, dev), clientId: `${dev}:spare` });
    await again.endAsync();
  });
});

describe('gateway intake against forged beats (issue 9 item 9)', () => {
  it('a forged beat with seq 2^53-1 or t_ms 1 is quarantined alone; every genuine beat before and after it is accepted and cut', async () => {
    const { gw, broker, dir } = await setup(1);
    const dev = deviceOfPatient('P0001');
    const c = await mqtt.connectAsync(broker.url, { username: dev, password: devicePassword(SECRET, dev), clientId: dev });
    cleanup.push(() => c.endAsync());
    const t0 = Date.now() - 60_000;
    const send = (seq: number, t: number): Promise<unknown> =>
      c.publishAsync(`${PREFIX}/${dev}/beats`, JSON.stringify({ v: 1, patient: 'P0001', seq, t_ms: t, rr_ms: 800, epoch: 7 }), { qos: 1 });
    const genuine = (seq: number): Promise<unknown> => send(seq, t0 + seq * 800);
    for (const seq of [1, 2, 4]) await genuine(seq);
    await send(Number.MAX_SAFE_INTEGER, t0 + 4 * 800 + 100);
    await send(3, 1);
    for (const seq of [3, 5, 6]) await genuine(seq);
    await received(gw, 8);
    await expect.poll(() => gw.stats().accepted + gw.stats().quarantined).toBe(8);
    expect(gw.stats()).toMatchObject({ accepted: 6, quarantined: 2, duplicates: 0, seq_gaps: 0 });
    // After a cut, the genuine stream goes on.
    await gw.flush(0);
    for (const seq of [7, 8]) await genuine(seq);
    await received(gw, 10);
    await expect.poll(() => gw.stats().accepted + gw.stats().duplicates).toBe(8);
    expect(gw.stats().duplicates).toBe(0);
    await gw.flush(0);
    await gw.stop(1000);
    const pending = new Spool(join(dir, 'gw')).pending();
    expect(pending.flatMap((b) => b.beats.map((x) => x.s))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const b of pending) expect(b.beats.map((x) => x.t)).toEqual(b.beats.map((x) => t0 + x.s * 800));
  });
});

/**
 * A TCP relay to the broker that drops the connection when the client's first SUBSCRIBE comes through (as an
 * aedes broker did to a restarted gateway: `ErrorWithSubackPacket: Connection closed` after `write EPIPE`).
 */
async function relayDroppingFirstSubscribe(brokerUrl: string): Promise<{ url: string; dropped: () => number }> {
  const target = Number(new URL(brokerUrl).port);
  let dropped = 0;
  const sockets = new Set<Socket>();
  const srv = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.on('data', (d: Buffer) => client.write(d));
    client.on('data', (d: Buffer) => {
      // 0x82: an MQTT SUBSCRIBE fixed header (mqtt.js writes each packet in its own chunk).
      if (dropped === 0 && d[0] === 0x82) {
        dropped++;
        client.destroy();
        return;
      }
      upstream.write(d);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  cleanup.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });
  return { url: `mqtt://127.0.0.1:${(srv.address() as AddressInfo).port}`, dropped: () => dropped };
}

describe('gateway start-up against a broker that drops the first SUBSCRIBE', () => {
  it('subscribes again after the reconnect instead of dying, and takes beats', async () => {
    let relay: Awaited<ReturnType<typeof relayDroppingFirstSubscribe>> | undefined;
    const { gw, broker } = await setup(1, {}, async (url) => (relay = await relayDroppingFirstSubscribe(url)).url);
    if (relay === undefined) throw new Error('the relay was not started');
    expect(relay.dropped()).toBe(1);
    await publishBeats(broker, [1, 2, 3]);
    await expect.poll(() => gw.stats().accepted, { timeout: 10_000 }).toBe(3);
  });
});
