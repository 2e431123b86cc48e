/**
 * Scenario "gateway-kill": the gateway process is SIGKILLed at each of its commit-boundary failpoints in turn
 * (a crash@hit armed through HRVAULT_FAILPOINTS, the hit drawn from the seed), then at seeded random moments,
 * and restarted each time while the sensors keep publishing. Afterwards every acknowledged beat must be in
 * exactly one verified result (I1), the host's disk and logs must hold no plaintext (I2), and the results must be
 * those of a clean run on the same batches (I3).
 *
 * A failpoint that is not placed in the code never fires: the gateway then keeps running past the point many
 * times over, and the scenario fails saying so, instead of passing without having injected anything.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { EmbeddedBroker } from '../gateway/index.js';
import { printInvariants } from './report.js';
import { faultSeed, seededRandom } from './seed.js';
import { awaitFailpoint, createStack, drainAndCheck, killAtRandomMoments, resultsKept, sigkill, startSuiteBroker, type FaultStack } from './stack.js';

const GATEWAY_POINTS = ['gateway.cut.after-pending-write', 'gateway.cut.after-state-commit', 'gateway.upload.after-rename', 'gateway.result.after-keep'] as const;
const PATIENTS = 5;
const RANDOM_KILLS = 3;

let broker: EmbeddedBroker | undefined;
let stack: FaultStack | undefined;
afterAll(async () => {
  await stack?.close(process.env.HRVAULT_FAULTS_KEEP === '1');
  await broker?.close();
});

describe('faults: gateway SIGKILL at its failpoints and at random moments', () => {
  it('every acknowledged beat is analysed exactly once', async () => {
    const seed = faultSeed();
    const rand = seededRandom(seed, 'gateway-kill');
    const prefix = `hrvault/v1/faults${process.pid}`;
    broker = await startSuiteBroker(prefix);
    stack = createStack({ name: 'gateway-kill', patients: PATIENTS, seed, mqttUrl: broker.url, topicPrefix: prefix });
    const cloud = await stack.startCloud();
    // Each incarnation is armed at the next point (hit drawn from the seed) and restarted armed at the one after.
    const hits = GATEWAY_POINTS.map(() => 1 + Math.floor(rand() * 3));
    const armed = (i: number): { env: Record<string, string> } => ({ env: i < GATEWAY_POINTS.length ? { HRVAULT_FAILPOINTS: `${GATEWAY_POINTS[i]}=crash@${hits[i]}` } : {} });
    let gw = await stack.startGateway(armed(0));
    const fleet = await stack.startSensors(null, 10);
    const kills: string[] = [];
    const failures: string[] = [];
    try {
      for (const [i, point] of GATEWAY_POINTS.entries()) {
        const hit = hits[i]!;
        try {
          const g = gw;
          await awaitFailpoint(g, point, { passed: () => resultsKept(g) >= (hit + 3) * PATIENTS, progress: () => resultsKept(g) + g.stderr().length });
          kills.push(`${point}@${hit}`);
        } catch (err) {
          failures.push(err instanceof Error ? err.message : String(err));
        }
        gw = await stack.startGateway(armed(i + 1));
      }
      kills.push(
        ...(await killAtRandomMoments(RANDOM_KILLS, rand, 2000, () => resultsKept(gw), async () => {
          await sigkill(gw);
          gw = await stack!.startGateway();
        })),
      );
    } finally {
      await fleet.stop();
    }
    const r = await drainAndCheck(stack, fleet, gw, cloud);
    printInvariants('gateway-kill', r, { seed, kills, published: r.published, failures: failures.length, host_rejections: stack.hostRejections(), gateway_sigterm: r.gatewaySigterm });
    expect(failures, failures.join('\n')).toEqual([]);
    expect(r.i1.ok, 'I1').toBe(true);
    expect(r.i2, 'I2').toEqual([]);
    expect(r.i3, 'I3').toEqual([]);
    expect(kills.length).toBe(GATEWAY_POINTS.length + RANDOM_KILLS);
  });
});
