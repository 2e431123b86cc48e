/**
 * Scenario "sensor-restart": every device restarts mid-run and numbers its beats from 1 again (a reboot: its
 * clock goes on, its sequence counter does not), while the gateway and the cloud run on. The beats of both boot
 * epochs are acknowledged by the broker, so all of them must be analysed exactly once (I1), the host must hold no
 * plaintext (I2) and the results must be a clean run's on the same batches (I3).
 *
 * The gateway used to recognise duplicates by (patient, seq) alone and dropped the second epoch's beats up to the
 * first epoch's last number as "duplicates" (issue 8 item 6); the device's boot epoch in the beat message fixed it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { EmbeddedBroker } from '../gateway/index.js';
import { join } from 'node:path';
import { ackedPrefix, checkExactlyOnce, epochBeats, mergeAcked, mergeBeats, readKeptResults } from './checker.js';
import { printInvariants } from './report.js';
import { faultSeed } from './seed.js';
import { createStack, drainAndCheck, resultsKept, SCENARIO_START_MS, startSuiteBroker, untilSettled, type FaultStack } from './stack.js';

const PATIENTS = 4;
let broker: EmbeddedBroker | undefined;
let stack: FaultStack | undefined;
afterAll(async () => {
  await stack?.close(process.env.HRVAULT_FAULTS_KEEP === '1');
  await broker?.close();
});

describe('faults: sensors restart their sequence numbers', () => {
  it('every acknowledged beat of both boot epochs analysed exactly once', async () => {
    const seed = faultSeed();
    const prefix = `hrvault/v1/edge${process.pid}`;
    broker = await startSuiteBroker(prefix);
    stack = createStack({ name: 'sensor-restart', patients: PATIENTS, seed, mqttUrl: broker.url, topicPrefix: prefix });
    const cloud = await stack.startCloud();
    const gw = await stack.startGateway();
    const first = await stack.startSensors(null, 10);
    await untilSettled(() => resultsKept(gw) >= 3 * PATIENTS, () => resultsKept(gw));
    await first.stop();
    const s1 = first.stats();
    // The devices come back 5 simulated seconds after their last beat, numbering from 1 again.
    const restartMs = SCENARIO_START_MS + Math.ceil(s1.simulatedS + 5) * 1000;
    const second = await stack.startSensors(null, 10, { startMs: restartMs });
    const kept = resultsKept(gw);
    await untilSettled(() => resultsKept(gw) >= kept + 3 * PATIENTS, () => resultsKept(gw));
    const r = await drainAndCheck(stack, second, gw, cloud, { earlierPublished: s1.published });
    const s2 = second.stats();
    const expected = mergeBeats(epochBeats(stack.expected(s1.simulatedS + 1), 0), epochBeats(stack.expected(s2.simulatedS + 10, restartMs), 1));
    const acked = mergeAcked(ackedPrefix(s1.perPatient), ackedPrefix(s2.perPatient), 1);
    const i1 = checkExactlyOnce(expected, acked, readKeptResults(join(stack.gatewayDir, 'spool')));
    printInvariants('sensor-restart', { i1, i2: r.i2, i3: r.i3 }, { seed, published: s1.published + s2.published, epoch0: s1.published, epoch1: s2.published, gateway_sigterm: r.gatewaySigterm });
    expect(i1.ok, 'I1').toBe(true);
    expect(r.i2, 'I2').toEqual([]);
    expect(r.i3, 'I3').toEqual([]);
  });
});
