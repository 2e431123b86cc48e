/**
 * Scenario "host-lag": the host runs its micro-batches every 5 s while the gateway cuts a batch every 0.3 s, as a
 * host that fell behind (after a restart, a backlog, an enclave restart) does: each micro-batch writes a dozen or
 * more results of the same patient at once, and the gateway fetches them in one listing. No process is killed.
 * Invariants: I1, I2, I3.
 *
 * Was a finding: result files are named `<pseudonym>-<seq>.result` with the seq unpadded, the gateway fetched them
 * in name order, and its outbox refused any seq at or below the patient's high-water mark as a replay — so
 * `-10.result` was kept before `-9.result`, which was dropped with its beats (90 of 231 lost). The outbox now keeps
 * the exact set of delivered and waiting seqs, and results are fetched in numeric order.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { EmbeddedBroker } from '../gateway/index.js';
import { printInvariants } from './report.js';
import { faultSeed } from './seed.js';
import { createStack, drainAndCheck, resultsKept, startSuiteBroker, untilSettled, type FaultStack } from './stack.js';

const PATIENTS = 3;
let broker: EmbeddedBroker | undefined;
let stack: FaultStack | undefined;
afterAll(async () => {
  await stack?.close(process.env.HRVAULT_FAULTS_KEEP === '1');
  await broker?.close();
});

describe('faults: a host that writes many results of a patient at once', () => {
  it('every acknowledged beat analysed exactly once, results fetched many at a time', async () => {
    const seed = faultSeed();
    const prefix = `hrvault/v1/lag${process.pid}`;
    broker = await startSuiteBroker(prefix);
    stack = createStack({ name: 'host-lag', patients: PATIENTS, seed, mqttUrl: broker.url, topicPrefix: prefix, batchIntervalS: 0.3, cloudIntervalS: 5 });
    const cloud = await stack.startCloud();
    const gw = await stack.startGateway();
    const fleet = await stack.startSensors(null, 10);
    // Two micro-batches' worth of results: sequence numbers past 10 for every patient.
    await untilSettled(() => resultsKept(gw) >= 2 * PATIENTS, () => resultsKept(gw) + fleet.stats().published);
    const r = await drainAndCheck(stack, fleet, gw, cloud);
    const replayed = gw.stderr().split('result replayed (already kept)').length - 1;
    printInvariants('host-lag', r, { seed, published: r.published, results_refused_as_replays: replayed, gateway_sigterm: r.gatewaySigterm });
    expect(r.i1.ok, 'I1').toBe(true);
    expect(r.i2, 'I2').toEqual([]);
    expect(r.i3, 'I3').toEqual([]);
  });
});
