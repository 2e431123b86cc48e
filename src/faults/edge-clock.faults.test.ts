/**
 * Scenario "edge-clock": two devices' clocks step for one beat — one beat of P0001 carries a time 3 s before
 * its predecessor's (the clock stepped back), one beat of P0002 a time 24 h ahead (the clock jumped) — while
 * every other beat carries its true time. The gateway must quarantine exactly those two beats (its `quarantined`
 * count) and analyse every other acknowledged beat exactly once (I1 with those two excluded): no patient is
 * blacked out after the step. I2 and I3 as in every scenario.
 *
 * The scenario's time is 2026-01-01, before the gateway's clock, so the +24 h beat is not "ahead of the
 * gateway's clock" (maxClockAheadMs): it must be recognised by its predecessor in the same boot epoch.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { EmbeddedBroker } from '../gateway/index.js';
import type { ClockStep } from '../sensor/index.js';
import { ackedPrefix, checkExactlyOnce, readKeptResults, withClockSteps } from './checker.js';
import { printInvariants } from './report.js';
import { faultSeed } from './seed.js';
import { createStack, drainAndCheck, startSuiteBroker, untilSettled, type FaultStack } from './stack.js';

const PATIENTS = 4;
const STEP_SEQ = 120;
/** Beats every device publishes before the scenario stops the sensors (well past the steps). */
const BEATS_EACH = 260;

let broker: EmbeddedBroker | undefined;
let stack: FaultStack | undefined;
afterAll(async () => {
  await stack?.close(process.env.HRVAULT_FAULTS_KEEP === '1');
  await broker?.close();
});

describe('faults: a device clock steps back, another jumps +24 h, for one beat', () => {
  it('only those beats are quarantined; every other acknowledged beat analysed exactly once', async () => {
    const seed = faultSeed();
    const prefix = `hrvault/v1/clock${process.pid}`;
    broker = await startSuiteBroker(prefix);
    stack = createStack({ name: 'edge-clock', patients: PATIENTS, seed, mqttUrl: broker.url, topicPrefix: prefix });
    const [p1, p2] = [stack.patients[0]!.patient, stack.patients[1]!.patient];
    const steps: ClockStep[] = [
      { patient: p1, seq: STEP_SEQ, deltaMs: -3_000 },
      { patient: p2, seq: STEP_SEQ, deltaMs: 24 * 3_600_000 },
    ];
    // The stepped-back time must not be some other beat's true time (the checker maps beats back by time).
    const plain = stack.expected(BEATS_EACH * 3);
    const stepped = withClockSteps(plain, steps);
    for (const s of steps) {
      const t = stepped.get(s.patient)!.find((b) => b.seq === s.seq)!.tMs;
      expect(plain.get(s.patient)!.some((b) => b.tMs === t)).toBe(false);
    }
    const cloud = await stack.startCloud();
    const gw = await stack.startGateway();
    const fleet = await stack.startSensors(null, 10, { clockSteps: steps });
    const least = (): number => Math.min(...Object.values(fleet.stats().perPatient));
    await untilSettled(() => least() >= BEATS_EACH, () => fleet.stats().published);
    const r = await drainAndCheck(stack, fleet, gw, cloud, { excludedBeats: steps.length });
    const st = fleet.stats();
    const excluded = new Map(steps.map((s) => [s.patient, new Set([s.seq])]));
    const i1 = checkExactlyOnce(withClockSteps(stack.expected(st.simulatedS + 10), steps), ackedPrefix(st.perPatient), readKeptResults(join(stack.gatewayDir, 'spool')), excluded);
    const gateways = stack.runs.filter((x) => x.name === 'gateway');
    const last = gateways[gateways.length - 1]!.proc.stdout().trim().split('\n').pop() ?? '';
    const quarantined = /"quarantined":(\d+)/.exec(last)?.[1];
    const logged = gateways.reduce((n, x) => n + (x.proc.stderr().split('beat quarantined: impossible time').length - 1), 0);
    printInvariants('edge-clock', { i1, i2: r.i2, i3: r.i3, gatewayStartFailures: r.gatewayStartFailures }, { seed, steps, published: st.published, gateway_quarantined: quarantined, quarantine_log_lines: logged, gateway_sigterm: r.gatewaySigterm });
    expect(i1.ok, 'I1').toBe(true);
    expect(r.i2, 'I2').toEqual([]);
    expect(r.i3, 'I3').toEqual([]);
    expect(quarantined, 'the gateway quarantined exactly the two stepped beats').toBe(String(steps.length));
  });
});
