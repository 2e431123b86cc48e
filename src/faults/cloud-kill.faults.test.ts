/**
 * Scenario "cloud-kill": the cloud host (`hrvault cloud` and its enclave child) is killed at its commit-boundary
 * failpoints — after the enclave's reply and before the result files (`cloud.after-enclave-reply`), after the
 * result bundles and before the micro-batch's done manifest (`cloud.after-results-written`), after the manifest and
 * before the inputs are filed away from the inbox (`cloud.after-inputs-done`), in the enclave after it
 * sealed its state and before it replies (`enclave.after-seal`) — and then at seeded random moments (SIGKILL of
 * the whole process group: host and enclave die together, as in a machine crash), and restarted on the same port
 * and directories each time, while the sensors publish and the gateway uploads.
 * Invariants: I1 (every acknowledged beat analysed exactly once), I2 (no plaintext on the host), I3 (each result
 * equals a clean run's on the same batches: no enclave state lost or rolled back).
 *
 * A point that is not placed in the code is skipped with a printed reason; a placed point that never fires fails the
 * scenario, and so does any file the host refused (a retried file must get its original result back).
 *
 * Finding (fixed): the enclave evicted receipts, with their held results, by count (16 seqs). After a restart the
 * host's first micro-batch carries more than 16 files of a patient; a crash between the seal and the result files
 * made the retry of the first ones HRV_ERR_SEQUENCE_REPLAY and lost them (src/enclave/analysis.ts evictReceipts;
 * the deterministic test is in src/enclave/core.test.ts and src/enclave/client.test.ts).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { EmbeddedBroker } from '../gateway/index.js';
import { closeKeepingLogs, crashCloud, sealingBatches, supervisorLog } from './cloud-procs.js';
import { printInvariants } from './report.js';
import { faultSeed, seededRandom } from './seed.js';
import { awaitFailpoint, createStack, drainAndCheck, failpointPlaced, killAtRandomMoments, resultsKept, startSuiteBroker, untilSettled, type FaultStack } from './stack.js';

const CLOUD_POINTS = ['cloud.after-enclave-reply', 'cloud.after-results-written', 'cloud.after-inputs-done', 'enclave.after-seal'] as const;
const PATIENTS = 5;
const RANDOM_KILLS = 3;

let broker: EmbeddedBroker | undefined;
let stack: FaultStack | undefined;
afterAll(async () => {
  await closeKeepingLogs(stack);
  await broker?.close();
});

describe('faults: cloud host and enclave killed at their failpoints and at random moments', () => {
  it('every acknowledged beat analysed exactly once, results as a clean run', async () => {
    const seed = faultSeed();
    const rand = seededRandom(seed, 'cloud-kill');
    const prefix = `hrvault/v1/cloud${process.pid}`;
    broker = await startSuiteBroker(prefix);
    stack = createStack({ name: 'cloud-kill', patients: PATIENTS, seed, mqttUrl: broker.url, topicPrefix: prefix });
    // Only the points placed in the code; each cloud incarnation is armed at the next one and restarted armed at the one after.
    const points = CLOUD_POINTS.filter((p) => failpointPlaced(p));
    const skipped = CLOUD_POINTS.filter((p) => !points.includes(p));
    for (const p of skipped)
      console.log(`faults: cloud-kill skips ${p}: not placed in the code (no failpoint('${p}') call outside src/failpoints)`);
    const hits = points.map(() => 1 + Math.floor(rand() * 3));
    const armed = (i: number): Record<string, string> => (i < points.length ? { HRVAULT_FAILPOINTS: `${points[i]}=crash@${hits[i]}` } : {});
    let cloud = await stack.startCloud(armed(0));
    // The cloud is away for seconds six times on purpose: the gateway's upload backoff is capped at 2 s (default 30 s)
    // so that it does not sit out most of the scenario; the backoff itself is not under test here.
    const gw = await stack.startGateway({ env: { HRVAULT_GATEWAY_RETRY_MAX_MS: '2000' } });
    const fleet = await stack.startSensors(null, 10);
    const kills: string[] = [];
    const failures: string[] = [];
    const enclaveRestarts: number[] = [];
    try {
      for (const [i, point] of points.entries()) {
        const hit = hits[i]!;
        const c = cloud;
        const enclavePoint = point.startsWith('enclave.');
        try {
          await awaitFailpoint(c, point, {
            // Each micro-batch in which the enclave accepted files crossed every one of these points at least once (the
            // host's own log, this incarnation only: results of earlier incarnations the gateway fetches now do not count).
            passed: () => sealingBatches(c) >= hit + 3,
            progress: () => resultsKept(gw) + c.stderr().length,
            // The enclave child dies alone by the failpoint's SIGKILL (nothing else SIGKILLs it in this incarnation); the
            // host survives, and its supervisor logs the loss with the signal and restarts the child unarmed.
            fired: () => enclavePoint && supervisorLog(c).lost.some((why) => /exited \(SIGKILL\)/.test(why)),
          });
          if (enclavePoint) enclaveRestarts.push(await untilSettled(() => supervisorLog(c).restarted >= 1, () => c.stderr().length).then(() => supervisorLog(c).restarted));
          kills.push(`${point}@${hit}`);
        } catch (err) {
          failures.push(err instanceof Error ? err.message : String(err));
        }
        await crashCloud(c);
        cloud = await stack.startCloud(armed(i + 1));
      }
      kills.push(
        ...(await killAtRandomMoments(RANDOM_KILLS, rand, 1500, () => resultsKept(gw), async () => {
          await crashCloud(cloud);
          cloud = await stack!.startCloud();
        })),
      );
    } finally {
      await fleet.stop();
    }
    const r = await drainAndCheck(stack, fleet, gw, cloud);
    printInvariants('cloud-kill', r, { seed, kills, skipped_points: skipped, published: r.published, failures: failures.length, enclave_restarts_after_seal_crash: enclaveRestarts, host_rejections: stack.hostRejections(), gateway_sigterm: r.gatewaySigterm });
    expect(failures, failures.join('\n')).toEqual([]);
    expect(kills.length, 'every placed point fired, every random kill happened').toBe(points.length + RANDOM_KILLS);
    // The enclave crashed at enclave.after-seal was restarted by the host's supervisor (and logged) before the group kill.
    if (points.includes('enclave.after-seal')) expect(enclaveRestarts).toEqual([1]);
    expect(stack.hostRejections(), 'no file refused at the host').toEqual({});
    expect(r.i1.ok, 'I1').toBe(true);
    expect(r.i2, 'I2').toEqual([]);
    expect(r.i3, 'I3').toEqual([]);
  });
});
