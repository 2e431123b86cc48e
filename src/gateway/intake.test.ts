import { mkdtempSync } from 'node:fs';
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
} from './index.js';
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

async function setup(
  patients: number,
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
    mqtt: { url: broker.url, topicPrefix: PREFIX, username: 'gw1', password: 'gwpass' },
    devices: Object.fromEntries(ps.map((p) => [deviceOfPatient(p.patient), p.patient])),
    batchIntervalMs: 60_000,
    mode: 'plain',
    // Nothing listens here: uploads fail and stay pending, which is what this test inspects.
    sftp: { host: '127.0.0.1', port: 1, privateKey: keys.sshPrivateKey },
    keys,
    bucketBytes: [1024],
    retryMaxMs: 60_000,
    logger: pino({ level: 'silent' }),
  });
  cleanup.push(() => gw.stop());
  return { broker, gw, dir, ps };
}

describe('gateway intake', () => {
  it('spools every acknowledged beat exactly once and cuts one file per patient', async () => {
    const { gw, broker, dir, ps } = await setup(5);
    const fleet = await startSensorFleet({
      url: broker.url,
      topicPrefix: PREFIX,
      patients: ps,
      speed: 40,
      durationS: 30,
      password: (d) => devicePassword(SECRET, d),
      maxInflight: 100,
    });
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
    });
    c.on('error', () => undefined);
    await Promise.race([
      c.publishAsync(`${PREFIX}/dev-P0002/beats`, '{}', { qos: 1 }).catch(() => undefined),
      new Promise((r) => setTimeout(r, 300)),
    ]);
    expect(broker.refused()).toEqual({ logins: 1, publishes: 1 });
    await c.endAsync(true);
  });
});
