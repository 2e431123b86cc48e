/**
 * Scenarios "access-*": the pipeline forwards its verified results to a CSP (`hrvault csp`) that stores them at a
 * separate SP (`hrvault sp`), and the access services are crashed while results flow:
 * - access-failpoints: the CSP SIGKILLed by its own failpoints `csp.after-sp-commit` (the SP committed, the CSP's
 *   index not yet) and `csp.after-index` (all committed, the answer not yet sent: the gateway resends), each
 *   restarted on the same port and data;
 * - access-kill: SIGKILL of the CSP, and separately of the SP, at seeded random moments, each restarted.
 * Afterwards, from what the CSP stored: every acknowledged beat in exactly one stored record (I1), no plaintext on
 * the cloud's or the SP's disk and logs (I2), the stored records equal a clean run's (I3), the audit log verifies
 * and every record the SP holds has its entry (I4); every patient takes a later append, and the gateway's outbox
 * is empty.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EmbeddedBroker } from '../gateway/index.js';
import type { CliProcess } from '../test-support/processes.js';
import { auditActions } from './access-check.js';
import { drainAndCheckAccess, type AccessOutcome } from './access-drain.js';
import { ACCESS_GATEWAY_ENV, backgroundCount, startAccessServices, type AccessServices } from './access-stack.js';
import { printInvariants } from './report.js';
import { faultSeed, seededRandom } from './seed.js';
import { awaitFailpoint, createStack, GATEWAY_USER, killAtRandomMoments, resultsKept, sigkill, sigterm, startSuiteBroker, untilSettled, type FaultStack } from './stack.js';

const PATIENTS = 4;
const CSP_POINTS = ['csp.after-sp-commit', 'csp.after-index'] as const;

let broker: EmbeddedBroker | undefined;
let stack: FaultStack | undefined;
let access: AccessServices | undefined;
afterEach(async () => {
  const keep = process.env.HRVAULT_FAULTS_KEEP === '1';
  await stack?.close(keep);
  await access?.close(keep);
  await broker?.close();
  stack = access = broker = undefined;
});

/** Starts broker, SP, CSP, cloud, gateway (forwarding to the CSP) and the sensors at 10×. */
async function startPipeline(name: string, seed: number, o: { relay?: boolean; cspEnv?: Record<string, string> } = {}): Promise<{ stack: FaultStack; access: AccessServices; cloud: CliProcess; gw: CliProcess; fleet: Awaited<ReturnType<FaultStack['startSensors']>> }> {
  const prefix = `hrvault/v1/faults${process.pid}${name.replace(/-/g, '')}`;
  broker = await startSuiteBroker(prefix);
  access = await startAccessServices(name, o);
  // 1-s cuts (the suite's default is 0.3 s): every result is one crash-atomic append at the CSP, and 4 patients at 0.3 s
  // outrun a CSP on a loaded 2-core machine, which is then a backlog, not a fault.
  stack = createStack({ name, patients: PATIENTS, seed, mqttUrl: broker.url, topicPrefix: prefix, cspUrl: access.url(), batchIntervalS: 1 });
  const [cloud] = await Promise.all([stack.startCloud(), access.enrol(stack.patients.map((p) => p.patient), GATEWAY_USER, stack.gatewayDir)]);
  const gw = await stack.startGateway({ env: ACCESS_GATEWAY_ENV });
  const fleet = await stack.startSensors(null, 10);
  return { stack, access, cloud, gw, fleet };
}

/** Prints a scenario's step with the seconds since it started (where a slow run spent its time). */
function stepper(name: string): (msg: string) => void {
  const t0 = Date.now();
  return (msg) => console.log(`${name} +${((Date.now() - t0) / 1000).toFixed(1)}s: ${msg}`);
}

/** Results kept by every gateway incarnation so far (the pipeline's heartbeat, from their logs). */
const keptByAll = (s: FaultStack): number => s.runs.filter((r) => r.name === 'gateway').reduce((n, r) => n + resultsKept(r.proc), 0);

function report(name: string, r: AccessOutcome, facts: Record<string, unknown>): void {
  printInvariants(name, r, {
    ...facts,
    published: r.published,
    outbox_left: r.outboxLeft,
    wedged: r.wedged.length,
    integrity_failures: r.integrityFailures.length,
    gateway_sigterm: r.gatewaySigterm,
  });
  for (const w of [...r.wedged, ...r.integrityFailures, ...r.deliveryFailures].slice(0, 8)) console.log(`  ${w}`);
}

function expectInvariants(r: AccessOutcome): void {
  expect(r.i1.ok, 'I1').toBe(true);
  expect(r.i2, 'I2').toEqual([]);
  expect(r.i3, 'I3').toEqual([]);
  expect(r.i4, 'I4').toEqual([]);
  expect(r.wedged, 'no patient wedged').toEqual([]);
  expect(r.integrityFailures, 'every stored record verifies').toEqual([]);
  expect(r.outboxLeft, "the gateway's outbox forwarded everything").toBe(0);
}

describe('faults: the access services crash while results flow', () => {
  it('access-failpoints: the CSP killed at csp.after-sp-commit and csp.after-index', async () => {
    const seed = faultSeed();
    const rand = seededRandom(seed, 'access-failpoints');
    // The first CSP is armed at the first point (enrolment stores users and the device, never an append, so it
    // does not pass the point); each restarted one at the next, the last one unarmed.
    const hits = CSP_POINTS.map(() => 2 + Math.floor(rand() * 4));
    const armed = (i: number): Record<string, string> => (i < CSP_POINTS.length ? { HRVAULT_FAILPOINTS: `${CSP_POINTS[i]}=crash@${hits[i]}` } : {});
    const p = await startPipeline('access-failpoints', seed, { cspEnv: armed(0) });
    const patients = p.stack.patients.map((x) => x.patient);
    const stored = backgroundCount(() => p.access.storedResults(patients));
    const kills: string[] = [];
    const failures: string[] = [];
    try {
      for (const [i, point] of CSP_POINTS.entries()) {
        const base = stored.value();
        const csp = [...p.access.runs].reverse().find((r) => r.name === 'csp')!.proc;
        try {
          await awaitFailpoint(csp, point, { passed: () => stored.value() - base > hits[i]! + 8, progress: () => stored.value() + keptByAll(p.stack) });
          kills.push(`${point}@${hits[i]}`);
        } catch (err) {
          failures.push(err instanceof Error ? err.message : String(err));
        }
        await p.access.startCsp(armed(i + 1));
      }
      // Results go on flowing into the restarted CSP before the drain.
      const before = stored.value();
      await untilSettled(() => stored.value() > before + 2 * PATIENTS, () => stored.value() + keptByAll(p.stack), 30_000);
    } finally {
      await stored.stop();
      await p.fleet.stop();
    }
    const r = await drainAndCheckAccess(p.stack, p.access, p.fleet, p.gw, p.cloud);
    report('access-failpoints', r, { seed, kills, failures: failures.length });
    expect(failures, failures.join('\n')).toEqual([]);
    expect(kills.length).toBe(CSP_POINTS.length);
    expectInvariants(r);
  });

  it('access-kill: SIGKILL of the CSP and of the SP at random moments', async () => {
    const seed = faultSeed();
    const rand = seededRandom(seed, 'access-kill');
    const step = stepper('access-kill');
    const p = await startPipeline('access-kill', seed);
    step('pipeline running');
    const kills: string[] = [];
    try {
      for (const target of ['csp', 'sp', 'csp', 'sp'] as const) {
        const moments = await killAtRandomMoments(1, rand, 1500, () => keptByAll(p.stack), async () => {
          const proc = [...p.access.runs].reverse().find((r) => r.name === target)!.proc;
          await sigkill(proc);
          await (target === 'csp' ? p.access.startCsp() : p.access.startSp());
        });
        kills.push(...moments.map((m) => `${target} ${m}`));
        step(`${target} killed and back`);
      }
    } finally {
      await p.fleet.stop();
    }
    step('sensors stopped; draining');
    const r = await drainAndCheckAccess(p.stack, p.access, p.fleet, p.gw, p.cloud);
    step('checked');
    report('access-kill', r, { seed, kills });
    expect(kills.length).toBe(4);
    expectInvariants(r);
  });

  it('access-renewal: K_st and K_rt renewed while results are appended (corrupted messages, an SP restart)', async () => {
    const seed = faultSeed();
    const rand = seededRandom(seed, 'access-renewal');
    const p = await startPipeline('access-renewal', seed, { relay: true });
    const relay = p.access.relay!;
    // The SP restart comes last: a message corrupted right after it would be refused as under an unknown key
    // (no_session) before its integrity is checked, which renews too, but by another path.
    const steps = ['request', 'answer', 'request', 'answer', 'sp-restart'] as const;
    const done: string[] = [];
    const failures: string[] = [];
    try {
      for (const step of steps) {
        const moments = await killAtRandomMoments(1, rand, 1500, () => keptByAll(p.stack), async () => {
          if (step === 'sp-restart') {
            // A graceful restart: the SP's session keys are gone, the CSP's next request is answered no_session.
            await sigterm([...p.access.runs].reverse().find((r) => r.name === 'sp')!.proc);
            await p.access.startSp();
            return;
          }
          const before = relay.corrupted()[step];
          relay.corruptNext(step);
          if (!(await untilSettled(() => relay.corrupted()[step] > before, () => keptByAll(p.stack), 30_000))) failures.push(`no sealed ${step} crossed the relay to corrupt`);
        });
        done.push(...moments.map((m) => `${step} ${m}`));
      }
    } finally {
      await p.fleet.stop();
    }
    const r = await drainAndCheckAccess(p.stack, p.access, p.fleet, p.gw, p.cloud);
    const audit = await auditActions(p.access.cspDir);
    const corrupted = relay.corrupted();
    report('access-renewal', r, {
      seed,
      steps: done,
      corrupted,
      renewals: audit['key.renewal'] ?? 0,
      handshakes: audit['key.handshake'] ?? 0,
      integrity_failures_audited: audit['integrity.failure'] ?? 0,
      renewals_refused: audit['key.renewal_refused'] ?? 0,
    });
    expect(failures, failures.join('\n')).toEqual([]);
    // Every corrupted message was caught as an integrity failure and answered by a renewal (new K_st and K_rt).
    expect(audit['integrity.failure'] ?? 0).toBeGreaterThanOrEqual(corrupted.request + corrupted.answer);
    expect(audit['key.renewal'] ?? 0).toBeGreaterThanOrEqual(1);
    // The restarted SP had no session: the CSP made one more handshake beyond the first and the renewals.
    expect(audit['key.handshake'] ?? 0).toBeGreaterThan(1 + (audit['key.renewal'] ?? 0));
    expectInvariants(r);
  });
});
