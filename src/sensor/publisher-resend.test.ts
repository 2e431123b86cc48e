/**
 * A broker that acknowledges a beat and then loses it — Mosquitto PUBACKs before it writes its store, so a crash in
 * that instant does exactly this — must not lose the beat: after the reconnect the device publishes again what was
 * acknowledged in its resend window. The broker here is aedes with a hook that acknowledges one beat and routes it
 * nowhere (no subscriber sees it), then drops the device's connection.
 */
import { createServer, type AddressInfo } from 'node:net';
import { Aedes, type Client } from 'aedes';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { beatMessageSchema, startSensorFleet, syntheticPatients } from './index.js';

const PREFIX = 'hrvault/v1/resend';
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** aedes on an ephemeral port; `lose(seq)` is true for the beats it acknowledges and then loses. */
async function lossyBroker(lose: (seq: number) => boolean): Promise<{ url: string; dropDevices: () => void }> {
  const broker = await Aedes.createBroker();
  const devices = new Set<Client>();
  broker.authorizePublish = (client, packet, done) => {
    if (client !== null && client.id.startsWith('dev-')) devices.add(client);
    const seq = (JSON.parse(packet.payload.toString()) as { seq?: number }).seq;
    // Acknowledged to the device, delivered to no one: the beat is gone, as after a crash before the store was written.
    if (seq !== undefined && !packet.topic.startsWith('lost/') && lose(seq)) packet.topic = `lost/${packet.topic}`;
    done(null);
  };
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanup.push(async () => {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    dropDevices: () => {
      for (const c of devices) c.close();
      devices.clear();
    },
  };
}

describe('a device after a reconnect', () => {
  it('publishes again the beats acknowledged just before the connection dropped, so a beat the broker lost arrives', async () => {
    let lostOnce = false;
    const broker = await lossyBroker((seq) => {
      if (seq !== 5 || lostOnce) return false;
      lostOnce = true;
      return true;
    });
    const sub = await mqtt.connectAsync(broker.url, { clientId: 'sub' });
    cleanup.push(() => sub.endAsync());
    const got = new Set<number>();
    sub.on('message', (_t, payload) => got.add(beatMessageSchema.parse(JSON.parse(payload.toString())).seq));
    await sub.subscribeAsync(`${PREFIX}/+/beats`, { qos: 1 });
    const fleet = await startSensorFleet({
      url: broker.url,
      topicPrefix: PREFIX,
      patients: syntheticPatients(1, 3),
      speed: 20,
      durationS: null,
      password: () => 'unused',
      maxInflight: 10,
    });
    cleanup.push(() => fleet.stop());
    // Beat 5 was acknowledged and lost; the broker goes away (its connections drop) a few beats later.
    await vi.waitFor(() => expect(fleet.stats().published).toBeGreaterThanOrEqual(8), { timeout: 20_000 });
    expect(got.has(5)).toBe(false);
    broker.dropDevices();
    await vi.waitFor(() => expect(got.has(5)).toBe(true), { timeout: 20_000 });
    expect(fleet.stats().resent).toBeGreaterThan(0);
  });

  it('publishes nothing again with a resend window of 0 (the beat stays lost: what the window is for)', async () => {
    const broker = await lossyBroker((seq) => seq === 5);
    const sub = await mqtt.connectAsync(broker.url, { clientId: 'sub' });
    cleanup.push(() => sub.endAsync());
    const got = new Set<number>();
    sub.on('message', (_t, payload) => got.add(beatMessageSchema.parse(JSON.parse(payload.toString())).seq));
    await sub.subscribeAsync(`${PREFIX}/+/beats`, { qos: 1 });
    const fleet = await startSensorFleet({
      url: broker.url,
      topicPrefix: PREFIX,
      patients: syntheticPatients(1, 3),
      speed: 20,
      durationS: null,
      password: () => 'unused',
      maxInflight: 10,
      resendWindowMs: 0,
    });
    cleanup.push(() => fleet.stop());
    await vi.waitFor(() => expect(fleet.stats().published).toBeGreaterThanOrEqual(8), { timeout: 20_000 });
    broker.dropDevices();
    const after = fleet.stats().published;
    await vi.waitFor(() => expect(fleet.stats().published).toBeGreaterThanOrEqual(after + 5), { timeout: 20_000 });
    expect(got.has(5)).toBe(false);
    expect(fleet.stats().resent).toBe(0);
  });
});
