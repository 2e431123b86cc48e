/**
 * The end of every scenario with the access services: the sensors stop (every PUBACK awaited), the pipeline
 * drains until the CSP has stored every acknowledged beat or nothing moves any more, a later append is made for
 * every patient (a wedged patient refuses it), then every process stops and I1–I4 are evaluated on what the CSP
 * stored, the SP holds and the audit log says.
 */
import { join } from 'node:path';
import type { SensorFleet } from '../sensor/index.js';
import type { CliProcess } from '../test-support/processes.js';
import { checkAudit, checkStoredCleanRun, scanSp, storedBatches } from './access-check.js';
import { ACCESS_GATEWAY_ENV, backgroundCount, type AccessServices, type StoredRead } from './access-stack.js';
import { ackedPrefix, checkExactlyOnce, readKeptEntries, type ExactlyOnceReport } from './checker.js';
import { scanHost } from './plaintext.js';
import { GATEWAY_USER, sigterm, untilSettled, type FaultStack } from './stack.js';

export interface AccessOutcome {
  i1: ExactlyOnceReport;
  i2: string[];
  i3: string[];
  i4: string[];
  published: number;
  /** Results left in the gateway's outbox after it stopped (0: everything was forwarded). */
  outboxLeft: number;
  /** Patients whose later append was refused, and gateway log lines about a refused sequence number. */
  wedged: string[];
  /** Integrity failures the CSP reported while the records were read. */
  integrityFailures: string[];
  gatewaySigterm: string;
  gatewayStartFailures: string[];
  /** The last refusals of the CSP the gateways logged (why results stayed in the outbox). */
  deliveryFailures: string[];
}

const beatsIn = (read: StoredRead): number => storedBatches(read.records).reduce((s, b) => s + b.tMs.length, 0);

/** Stops the sensors, drains into the CSP, checks that no patient is wedged, stops everything and evaluates I1–I4. */
export async function drainAndCheckAccess(stack: FaultStack, access: AccessServices, fleet: SensorFleet, gw: CliProcess, cloud: CliProcess): Promise<AccessOutcome> {
  await fleet.stop();
  const st = fleet.stats();
  const patients = stack.patients.map((p) => p.patient);
  const poller = backgroundCount(async () => beatsIn(await access.readStored(patients)), 1000);
  const stop = (p: CliProcess): Promise<string> =>
    sigterm(p, 30_000).then(
      () => 'exited',
      (err: unknown) => `did not exit on SIGTERM: ${err instanceof Error ? err.message.split('\n')[0]! : String(err)}`,
    );
  let gatewaySigterm: string;
  try {
    await untilSettled(() => poller.value() >= st.published, poller.value, 30_000);
    gatewaySigterm = await stop(gw);
    if (poller.value() < st.published) {
      // What the host wrote after the last gateway stopped is fetched and forwarded by one more, clean incarnation.
      const last = await stack.startGateway({ env: ACCESS_GATEWAY_ENV });
      await untilSettled(() => poller.value() >= st.published, poller.value, 30_000);
      gatewaySigterm += `; recovery incarnation ${await stop(last)}`;
    }
  } finally {
    await poller.stop();
  }
  const read = await access.readStored(patients);
  const wedged: string[] = [];
  for (const p of patients) {
    const r = await access.asDoctor('POST', `/patients/${p}/records`, { type: 'note', data: { text: 'a later append after the faults' } });
    if (r.status !== 201) wedged.push(`${p}: a later append got ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
  }
  for (const run of stack.runs) {
    if (run.name !== 'gateway') continue;
    const m = run.proc.stderr().match(/[^\n]*next sequence number[^\n]*/g);
    if (m) wedged.push(`gateway log: ${m.length} answer(s) like ${m[0]!.slice(0, 200)}`);
  }
  await sigterm(cloud).catch(() => undefined);
  for (const r of access.runs) if (r.name === 'csp') await sigterm(r.proc).catch(() => undefined);
  for (const r of access.runs) if (r.name === 'sp') await sigterm(r.proc).catch(() => undefined);
  const duration = st.simulatedS + 10;
  const expected = stack.expected(duration);
  const spLogs = access.runs.filter((r) => r.name === 'sp').map((r, i) => ({ name: `sp run ${i} log`, text: `${r.proc.stdout()}\n${r.proc.stderr()}` }));
  return {
    i1: checkExactlyOnce(expected, ackedPrefix(st.perPatient), storedBatches(read.records)),
    i2: [...scanHost(stack, duration), ...scanSp(access.spDir, spLogs, expected)],
    i3: checkStoredCleanRun(read.records, GATEWAY_USER),
    i4: await checkAudit(access.cspDir, access.spDir),
    published: st.published,
    outboxLeft: readKeptEntries(join(stack.gatewayDir, 'spool')).length,
    wedged,
    integrityFailures: read.integrityFailures,
    gatewaySigterm,
    gatewayStartFailures: [...stack.gatewayStartFailures],
    deliveryFailures: stack.runs
      .filter((r) => r.name === 'gateway')
      .flatMap((r) => r.proc.stderr().match(/[^\n]*(CSP delivery|CSP refused)[^\n]*/g) ?? [])
      .slice(-3),
  };
}
