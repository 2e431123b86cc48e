/**
 * Scenario "edge-sensor-kill": the sensors run as separate processes (`hrvault sensor`, two groups of devices)
 * and are SIGKILLed at seeded random moments, each restarted as a new boot epoch (its devices number from 1 again,
 * their clock goes on). Each process appends every beat the broker acknowledged to its ack log (`--ack-log`), so
 * the checker knows exactly what was acknowledged to a process that was killed: every such beat of every
 * incarnation must be analysed exactly once (I1); a beat published but not acknowledged before the kill may be
 * missing, never duplicated. I2 and I3 as in every scenario.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { EmbeddedBroker } from '../gateway/index.js';
import { checkExactlyOnce, readKeptResults } from './checker.js';
import { printInvariants } from './report.js';
import { faultSeed, seededRandom } from './seed.js';
import { sensorProcs } from './sensor-procs.js';
import { scanHost } from './plaintext.js';
import { createStack, drainAndCheck, killAtRandomMoments, resultsKept, SCENARIO_START_MS, startSuiteBroker, untilSettled, type FaultStack } from './stack.js';

const PATIENTS = 4;
const GROUPS = 2;
const KILLS = 4;

let broker: EmbeddedBroker | undefined;
let stack: FaultStack | undefined;
afterAll(async () => {
  await stack?.close(process.env.HRVAULT_FAULTS_KEEP === '1');
  await broker?.close();
});

describe('faults: sensor processes SIGKILLed at random moments and restarted', () => {
  it('every beat acknowledged to any incarnation analysed exactly once', async () => {
    const seed = faultSeed();
    const rand = seededRandom(seed, 'edge-sensor-kill');
    const prefix = `hrvault/v1/skill${process.pid}`;
    broker = await startSuiteBroker(prefix);
    stack = createStack({ name: 'edge-sensor-kill', patients: PATIENTS, seed, mqttUrl: broker.url, topicPrefix: prefix });
    const cloud = await stack.startCloud();
    const gw = await stack.startGateway();
    const procs = sensorProcs(stack, { groups: GROUPS, speed: 10, seed, mqttUrl: broker.url, topicPrefix: prefix, startMs: SCENARIO_START_MS });
    await procs.start();
    const victims: number[] = [];
    const kills = await killAtRandomMoments(KILLS, rand, 3000, () => resultsKept(gw), async () => {
      const g = Math.floor(rand() * GROUPS);
      victims.push(g);
      await procs.killAndRestart(g);
    });
    // The last incarnations publish a while after the last kill, then end cleanly (SIGTERM: they wait for their PUBACKs).
    const kept = resultsKept(gw);
    await untilSettled(() => resultsKept(gw) >= kept + 2 * PATIENTS, () => resultsKept(gw));
    await procs.stop();
    // Every acknowledged beat in a result (or nothing moves any more), before drainAndCheck stops the gateway.
    const check = (): ReturnType<typeof checkExactlyOnce> => checkExactlyOnce(procs.expected(), procs.acked(), readKeptResults(join(stack!.gatewayDir, 'spool')));
    const analysed = (): number => stack!.analysed().reduce((s, b) => s + b.tMs.length, 0);
    await untilSettled(() => check().missing === 0, analysed);
    // drainAndCheck's own I1 and I2 assume one in-process fleet from SCENARIO_START_MS: only its I3 is used here.
    const r = await drainAndCheck(stack, procs.fleet(), gw, cloud);
    const i1 = check();
    const i2 = scanHost({ cloudDir: stack.cloudDir, runs: stack.runs, expected: () => procs.expected() }, 0);
    const unacked = i1.analysed - i1.acked + i1.missing - i1.duplicated;
    printInvariants('edge-sensor-kill', { i1, i2, i3: r.i3, gatewayStartFailures: r.gatewayStartFailures }, { seed, kills, victims, incarnations: procs.incarnations(), acked: i1.acked, analysed_unacked: unacked, gateway_sigterm: r.gatewaySigterm });
    expect(kills.length).toBe(KILLS);
    expect(i1.ok, 'I1').toBe(true);
    expect(i2, 'I2').toEqual([]);
    expect(r.i3, 'I3').toEqual([]);
  });
});
