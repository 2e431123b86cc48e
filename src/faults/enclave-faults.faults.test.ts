/**
 * Scenarios "enclave-kill" and "enclave-hang": the enclave child of `hrvault cloud` fails alone while the sensors
 * publish and the gateway uploads; the host stays up and its supervisor must bring the enclave back.
 *
 * - enclave-kill: the enclave process alone (found among the host's children in /proc) is SIGKILLed at seeded random
 *   moments; each time the supervisor restarts it from its sealed state, and the micro-batch that was in flight is
 *   retried from the inbox.
 * - enclave-hang: `enclave.before-batch=hang@<hit>` armed for the cloud (its enclave inherits it) with a 5-s watchdog
 *   (`HRVAULT_CLOUD_ENCLAVE_CALL_TIMEOUT_MS`): the enclave blocks for ever at a micro-batch, the watchdog kills it,
 *   the supervisor restarts it (unarmed) and the files are retried.
 *
 * Both: I1 (every acknowledged beat analysed exactly once), I2 (no plaintext on the host), I3 (results as a clean
 * run's), no file refused at the host, and the restarts counted and logged: one supervisor log line per loss with
 * its cause and running count, and the host's own `enclave_restarts` (printed when it stops) equal to them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { EmbeddedBroker } from '../gateway/index.js';
import type { CliProcess } from '../test-support/processes.js';
import { closeKeepingLogs, enclavePid, reportedRestarts, supervisorLog } from './cloud-procs.js';
import { printInvariants } from './report.js';
import { faultSeed, seededRandom } from './seed.js';
import { createStack, drainAndCheck, killAtRandomMoments, resultsKept, startSuiteBroker, untilSettled, type FaultStack } from './stack.js';

const PATIENTS = 4;
const ENCLAVE_KILLS = 3;
/** The hang scenario's watchdog (ms): far above a micro-batch of this scenario, short enough to keep it brief. */
const WATCHDOG_MS = 5000;

const brokers: EmbeddedBroker[] = [];
const stacks: FaultStack[] = [];
afterAll(async () => {
  for (const s of stacks) await closeKeepingLogs(s);
  for (const b of brokers) await b.close();
});

/** A fresh pipeline for one scenario: broker, stack, cloud (with `cloudEnv`), gateway, sensors at 10×. */
async function pipeline(name: string, seed: number, cloudEnv: Record<string, string> = {}) {
  const prefix = `hrvault/v1/${name}${process.pid}`;
  const broker = await startSuiteBroker(prefix);
  brokers.push(broker);
  const stack = createStack({ name, patients: PATIENTS, seed, mqttUrl: broker.url, topicPrefix: prefix });
  stacks.push(stack);
  const cloud = await stack.startCloud(cloudEnv);
  const gw = await stack.startGateway();
  const fleet = await stack.startSensors(null, 10);
  return { stack, cloud, gw, fleet };
}

/** Waits until the supervisor of `cloud` has logged `n` completed restarts (or nothing moves any more); returns the count. */
async function restartsLogged(cloud: CliProcess, n: number): Promise<number> {
  await untilSettled(() => supervisorLog(cloud).restarted >= n, () => cloud.stderr().length, 30_000);
  return supervisorLog(cloud).restarted;
}

describe('faults: the enclave child fails alone and the host supervises it', () => {
  it('enclave-kill: SIGKILL of the enclave process at random moments; restarted, counted, no beat lost', async () => {
    const seed = faultSeed();
    const rand = seededRandom(seed, 'enclave-kill');
    const { stack, cloud, gw, fleet } = await pipeline('enclave-kill', seed);
    const killed: number[] = [];
    let kills: string[];
    try {
      kills = await killAtRandomMoments(ENCLAVE_KILLS, rand, 1500, () => resultsKept(gw), async () => {
        const pid = enclavePid(cloud);
        if (pid === undefined) throw new Error(`no enclave child of the cloud (pid ${cloud.child.pid}) to kill`);
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
        await restartsLogged(cloud, killed.length);
      });
    } finally {
      await fleet.stop();
    }
    const sup = supervisorLog(cloud);
    const r = await drainAndCheck(stack, fleet, gw, cloud);
    printInvariants('enclave-kill', r, { seed, kills, enclave_pids_killed: killed, supervisor: sup, host_enclave_restarts: reportedRestarts(cloud), published: r.published, host_rejections: stack.hostRejections(), gateway_sigterm: r.gatewaySigterm });
    expect(kills).toHaveLength(ENCLAVE_KILLS);
    expect(new Set(killed).size, 'a new enclave process each time').toBe(ENCLAVE_KILLS);
    expect(sup.lost, 'each loss logged with its cause').toEqual(killed.map(() => 'enclave process exited (SIGKILL)'));
    expect([sup.restarts, sup.restarted], 'restarts counted and logged').toEqual([ENCLAVE_KILLS, ENCLAVE_KILLS]);
    expect(reportedRestarts(cloud), "the host's enclave_restarts").toBe(ENCLAVE_KILLS);
    expect(stack.hostRejections(), 'no file refused at the host').toEqual({});
    expect(r.i1.ok, 'I1').toBe(true);
    expect(r.i2, 'I2').toEqual([]);
    expect(r.i3, 'I3').toEqual([]);
  });

  it('enclave-hang: the enclave blocks at a micro-batch; the watchdog kills it, the supervisor restarts it, no beat lost', async () => {
    const seed = faultSeed();
    const rand = seededRandom(seed, 'enclave-hang');
    const hit = 2 + Math.floor(rand() * 4);
    const { stack, cloud, gw, fleet } = await pipeline('enclave-hang', seed, {
      HRVAULT_FAILPOINTS: `enclave.before-batch=hang@${hit}`,
      HRVAULT_CLOUD_ENCLAVE_CALL_TIMEOUT_MS: String(WATCHDOG_MS),
    });
    let after: number;
    try {
      await restartsLogged(cloud, 1);
      // The restarted enclave must carry the pipeline on: results flow again before the sensors stop.
      const base = resultsKept(gw);
      await untilSettled(() => resultsKept(gw) >= base + 5 * PATIENTS, () => resultsKept(gw), 30_000);
      after = resultsKept(gw) - base;
    } finally {
      await fleet.stop();
    }
    const sup = supervisorLog(cloud);
    const r = await drainAndCheck(stack, fleet, gw, cloud);
    printInvariants('enclave-hang', r, { seed, armed: `enclave.before-batch=hang@${hit}`, watchdog_ms: WATCHDOG_MS, supervisor: sup, results_after_restart: after, host_enclave_restarts: reportedRestarts(cloud), published: r.published, host_rejections: stack.hostRejections(), gateway_sigterm: r.gatewaySigterm });
    // A micro-batch slower than the watchdog on a loaded machine would count as a hang too (and be retried): at least the armed one.
    expect(sup.hung, 'the watchdog fired').toBeGreaterThanOrEqual(1);
    expect(sup.failedBatches, 'the hung micro-batch failed at the host (its files retried)').toBeGreaterThanOrEqual(1);
    expect(sup.lost, 'each loss logged as a watchdog kill').toEqual(sup.lost.map(() => expect.stringMatching(new RegExp(`did not answer (batch|quote) within ${WATCHDOG_MS} ms \\(killed as hung\\)`))));
    expect([sup.restarts, sup.restarted], 'restarts counted and logged').toEqual([sup.hung, sup.hung]);
    expect(reportedRestarts(cloud), "the host's enclave_restarts").toBe(sup.hung);
    expect(after, 'results after the restart').toBeGreaterThanOrEqual(5 * PATIENTS);
    expect(stack.hostRejections(), 'no file refused at the host').toEqual({});
    expect(r.i1.ok, 'I1').toBe(true);
    expect(r.i2, 'I2').toEqual([]);
    expect(r.i3, 'I3').toEqual([]);
  });
});
