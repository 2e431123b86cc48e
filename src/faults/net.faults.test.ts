/**
 * Scenarios "net-*": the fault proxy (src/test-support/fault-proxy.ts) sits between the gateway process and the cloud's
 * SFTP server, and between the gateway and the MQTT broker, while the sensors publish to the broker directly.
 * - net-sftp: a cut (connections reset, new ones refused), then a silent stall that heals (the link resumes),
 *   then three already-analysed files put back into the host's inbox (duplicate files).
 * - net-sftp-abandoned-stall: a silent stall after which the old connection stays black-holed forever (a
 *   firewall that lost its state): only a gateway with an SFTP keepalive or a timeout on every operation
 *   reconnects and uploads again.
 * - net-mqtt: a cut, then a silent stall that heals, between the gateway and the broker.
 * Each: every acknowledged beat analysed exactly once (I1), nothing readable on the host (I2), results as a
 * clean run's on the same batches (I3).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceOfPatient, devicePassword, patientId, type SensorFleet } from '../sensor/index.js';
import type { CliProcess } from '../test-support/processes.js';
import { mosquittoInstalled, startPrivateMosquitto } from './mosquitto.js';
import { startFaultProxy, type FaultProxy } from '../test-support/fault-proxy.js';
import { printInvariants } from './report.js';
import { faultSeed } from './seed.js';
import { createStack, DEVICE_SECRET, drainAndCheck, GATEWAY_PASSWORD, GATEWAY_USER, resultsKept, startSuiteBroker, untilSettled, type FaultStack, type Outcome } from './stack.js';

const PATIENTS = 5;
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

interface Net {
  stack: FaultStack;
  broker: { url: string };
  sftp: FaultProxy;
  mqtt: FaultProxy;
  cloud: CliProcess;
  gw: CliProcess;
  fleet: SensorFleet;
  seed: number;
}

/** The broker: the in-process one the demo uses (aedes), or a private Mosquitto with the documented configuration. */
async function startBroker(kind: 'embedded' | 'mosquitto', prefix: string): Promise<{ url: string; close(): Promise<void> }> {
  if (kind === 'embedded') return startSuiteBroker(prefix);
  const dir = mkdtempSync(join(tmpdir(), 'hrv-faults-net-mosq-'));
  const users: Record<string, string> = { [GATEWAY_USER]: GATEWAY_PASSWORD };
  for (let i = 1; i <= PATIENTS; i++) users[deviceOfPatient(patientId(i))] = devicePassword(DEVICE_SECRET, deviceOfPatient(patientId(i)));
  const m = await startPrivateMosquitto({ dir, config: 'documented', users });
  return {
    url: m.url,
    close: async () => {
      await m.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function setUp(name: string, brokerKind: 'embedded' | 'mosquitto' = 'embedded', batchIntervalS?: number): Promise<Net> {
  const seed = faultSeed();
  // The documented Mosquitto ACL allows the hrvault/v1 prefix only.
  const prefix = brokerKind === 'mosquitto' ? 'hrvault/v1' : `hrvault/v1/net${process.pid}`;
  const broker = await startBroker(brokerKind, prefix);
  const stack = createStack({ name, patients: PATIENTS, seed, mqttUrl: broker.url, topicPrefix: prefix, ...(batchIntervalS === undefined ? {} : { batchIntervalS }) });
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

async function finishNet(name: string, net: Net, facts: Record<string, unknown>, gatewayStuck = false): Promise<Outcome> {
  const r = await drainAndCheck(net.stack, net.fleet, net.gw, net.cloud, { gatewayStuck });
  printInvariants(name, r, { seed: net.seed, published: r.published, sftp_proxy: net.sftp.stats(), mqtt_proxy: net.mqtt.stats(), gateway_sigterm: r.gatewaySigterm, ...facts });
  return r;
}

/** Copies `n` files the host already processed back into its inbox and waits until it has dealt with them (quarantined as replays, or answered again). */
async function redeliver(stack: FaultStack, n: number): Promise<number> {
  const store = join(stack.cloudDir, 'store', GATEWAY_USER);
  const inbox = join(stack.cloudDir, 'gateways', GATEWAY_USER, 'inbox');
  const names = readdirSync(store).filter((f) => f.endsWith('.hrve')).sort().slice(0, n);
  for (const f of names) copyFileSync(join(store, f), join(inbox, f));
  const rejected = (): number => Object.values(stack.hostRejections()).reduce((a, b) => a + b, 0);
  const waiting = (): number => names.filter((f) => existsSync(join(inbox, f))).length;
  await untilSettled(() => waiting() === 0, () => rejected() - waiting());
  return names.length;
}

/** A cut on one link while the sensors publish 300 beats, heal, then a silent stall as long, heal. */
async function cutThenStall(name: string, link: 'sftp' | 'mqtt', brokerKind: 'embedded' | 'mosquitto' = 'embedded'): Promise<void> {
  const net = await setUp(name, brokerKind);
  const proxy = net[link];
  proxy.cut();
  await whilePublishing(net.fleet, 300);
  proxy.heal();
  const afterCut = await resultsResume(net.gw);
  proxy.stall();
  await whilePublishing(net.fleet, 300);
  proxy.heal();
  const afterStall = await resultsResume(net.gw);
  // Duplicate files at the host (what an SFTP retry whose first rename did land leaves): three files the host
  // already analysed are put back into its inbox under their own names. They must not be counted twice.
  const duplicates = link === 'sftp' ? await redeliver(net.stack, 3) : 0;
  const r = await finishNet(name, net, { resumed_after_cut: afterCut, resumed_after_stall: afterStall, duplicate_files: duplicates, host_rejections: net.stack.hostRejections() });
  expect(r.i1.ok, 'I1').toBe(true);
  expect(r.i2, 'I2').toEqual([]);
  expect(r.i3, 'I3').toEqual([]);
}

describe('faults: network cut and silent stall through a fault proxy', () => {
  it('gateway ↔ SFTP: a cut, then a stall that heals', () => cutThenStall('net-sftp', 'sftp'));

  it('gateway ↔ SFTP: a stall whose connection stays black-holed (the gateway must reconnect by itself)', async () => {
    // 1-s cuts: the backlog the stall leaves is files, and at 0.3 s it took a minute to drain on a loaded machine.
    const net = await setUp('net-sftp-abandoned-stall', 'embedded', 1);
    net.sftp.stall();
    await whilePublishing(net.fleet, 300);
    net.sftp.heal({ abandonStalled: true });
    const resumed = await resultsResume(net.gw);
    const r = await finishNet('net-sftp-abandoned-stall', net, { resumed_after_stall: resumed }, !resumed);
    expect(resumed, 'the gateway never uploaded again after its SFTP connection went silent (no keepalive / operation timeout)').toBe(true);
    // Was a finding: the black-holed connection's socket kept the drained gateway alive past 30 s after SIGTERM.
    expect(r.gatewaySigterm, 'the gateway ends on SIGTERM within its drain deadline').toMatch(/^exited/);
    expect(r.i1.ok, 'I1').toBe(true);
    expect(r.i2, 'I2').toEqual([]);
    expect(r.i3, 'I3').toEqual([]);
  });

  // Was a finding: the demo's in-process aedes broker lost beats it had acknowledged while the gateway's connection
  // was cut (94–888 per run). With the gateway's group commit, which holds each PUBACK until its fdatasync and sends
  // them in arrival order, it loses none; kept as a scenario so a regression shows.
  it('gateway ↔ MQTT broker (embedded aedes, the demo\'s): a cut, then a stall that heals', () => cutThenStall('net-mqtt-embedded', 'mqtt'));

  it.skipIf(!mosquittoInstalled())('gateway ↔ MQTT broker (Mosquitto, documented config): a cut, then a stall that heals', () =>
    cutThenStall('net-mqtt-mosquitto', 'mqtt', 'mosquitto'));
});
