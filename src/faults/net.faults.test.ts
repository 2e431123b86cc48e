/**
 * Scenarios "net-*": the fault proxy (src/faults/proxy.ts) sits between the gateway process and the cloud's
 * SFTP server, and between the gateway and the MQTT broker, while the sensors publish to the broker directly.
 * - net-sftp: a cut (connections reset, new ones refused), then a silent stall that heals (the link resumes).
 * - net-sftp-abandoned-stall: a silent stall after which the old connection stays black-holed forever (a
 *   firewall that lost its state): only a gateway with an SFTP keepalive or a timeout on every operation
 *   reconnects and uploads again.
 * - net-mqtt: a cut, then a silent stall that heals, between the gateway and the broker.
 * Each: every acknowledged beat analysed exactly once (I1), nothing readable on the host (I2).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedBroker, type EmbeddedBroker } from '../gateway/index.js';
import { devicePassword, type SensorFleet } from '../sensor/index.js';
import type { CliProcess } from '../test-support/processes.js';
import { ackedPrefix } from './checker.js';
import { scanHost } from './plaintext.js';
import { startFaultProxy, type FaultProxy } from './proxy.js';
import { printInvariants } from './report.js';
import { faultSeed } from './seed.js';
import { createStack, DEVICE_SECRET, GATEWAY_PASSWORD, GATEWAY_USER, resultsKept, sigterm, untilSettled, type FaultStack } from './stack.js';

const PATIENTS = 5;
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

interface Net {
  stack: FaultStack;
  broker: EmbeddedBroker;
  sftp: FaultProxy;
  mqtt: FaultProxy;
  cloud: CliProcess;
  gw: CliProcess;
  fleet: SensorFleet;
  seed: number;
}

async function setUp(name: string): Promise<Net> {
  const seed = faultSeed();
  const prefix = `hrvault/v1/net${process.pid}`;
  const broker = await startEmbeddedBroker({
    credentials: (u) => (u === GATEWAY_USER ? GATEWAY_PASSWORD : u.startsWith('dev-') ? devicePassword(DEVICE_SECRET, u) : undefined),
    gatewayUsernames: [GATEWAY_USER],
    topicPrefix: prefix,
  });
  const stack = createStack({ name, patients: PATIENTS, seed, mqttUrl: broker.url, topicPrefix: prefix });
  const proxies: FaultProxy[] = [];
  cleanup.push(async () => {
    await stack.close(process.env.HRVAULT_FAULTS_KEEP === '1');
    for (const p of proxies) await p.close();
    await broker.close();
  });
  const cloud = await stack.startCloud();
  const sftp = await startFaultProxy(stack.cloudPort());
  const mqtt = await startFaultProxy(Number(new URL(broker.url).port));
  proxies.push(sftp, mqtt);
  const gw = await stack.startGateway({ sftpPort: sftp.port, mqttUrl: `mqtt://127.0.0.1:${mqtt.port}` });
  const fleet = await stack.startSensors(null, 20);
  await untilSettled(() => resultsKept(gw) >= PATIENTS, () => resultsKept(gw));
  return { stack, broker, sftp, mqtt, cloud, gw, fleet, seed };
}

/** Waits until the sensors have had `n` more beats acknowledged (the fault lasts that long), or they stop. */
async function whilePublishing(fleet: SensorFleet, n: number): Promise<void> {
  const target = fleet.stats().published + n;
  await untilSettled(() => fleet.stats().published >= target, () => fleet.stats().published, 30_000);
}

/** Waits until the gateway keeps `n` more results (it works again), or stops making progress. */
async function resultsResume(gw: CliProcess, n = PATIENTS): Promise<boolean> {
  const target = resultsKept(gw) + n;
  return untilSettled(() => resultsKept(gw) >= target, () => resultsKept(gw), 30_000);
}

async function finish(name: string, net: Net, facts: Record<string, unknown>): Promise<{ ok: boolean; i2: string[] }> {
  await net.fleet.stop();
  const st = net.fleet.stats();
  const beats = (): number => net.stack.analysed().reduce((s, b) => s + b.tMs.length, 0);
  await untilSettled(() => beats() >= st.published, beats);
  await sigterm(net.gw);
  await sigterm(net.cloud);
  const duration = st.simulatedS + 10;
  const i1 = net.stack.checkI1(duration, ackedPrefix(st.perPatient));
  const i2 = scanHost(net.stack, duration);
  printInvariants(name, { i1, i2 }, { seed: net.seed, published: st.published, sftp_proxy: net.sftp.stats(), mqtt_proxy: net.mqtt.stats(), ...facts });
  return { ok: i1.ok, i2 };
}

/** A cut on one link while the sensors publish 300 beats, heal, then a silent stall as long, heal. */
async function cutThenStall(name: string, link: 'sftp' | 'mqtt'): Promise<void> {
  const net = await setUp(name);
  const proxy = net[link];
  proxy.cut();
  await whilePublishing(net.fleet, 300);
  proxy.heal();
  const afterCut = await resultsResume(net.gw);
  proxy.stall();
  await whilePublishing(net.fleet, 300);
  proxy.heal();
  const afterStall = await resultsResume(net.gw);
  const r = await finish(name, net, { resumed_after_cut: afterCut, resumed_after_stall: afterStall });
  expect(r.ok, 'I1').toBe(true);
  expect(r.i2, 'I2').toEqual([]);
}

describe('faults: network cut and silent stall through a fault proxy', () => {
  it('gateway ↔ SFTP: a cut, then a stall that heals', () => cutThenStall('net-sftp', 'sftp'));

  it('gateway ↔ SFTP: a stall whose connection stays black-holed (the gateway must reconnect by itself)', async () => {
    const net = await setUp('net-sftp-abandoned-stall');
    net.sftp.stall();
    await whilePublishing(net.fleet, 300);
    net.sftp.heal({ abandonStalled: true });
    const resumed = await resultsResume(net.gw);
    const r = await finish('net-sftp-abandoned-stall', net, { resumed_after_stall: resumed });
    expect(resumed, 'the gateway never uploaded again after its SFTP connection went silent (no keepalive / operation timeout)').toBe(true);
    expect(r.ok, 'I1').toBe(true);
    expect(r.i2, 'I2').toEqual([]);
  });

  it('gateway ↔ MQTT broker: a cut, then a stall that heals', () => cutThenStall('net-mqtt', 'mqtt'));
});
