/**
 * Scenario "key-rotation": the enclave rotates its HPKE and signing key pair every 3 s (`cloud.enclaveKeyRotationS`)
 * and keeps retired pairs for 60 s; the gateway re-attests when its attestation is older than 1 s
 * (`gateway.attestationMaxAgeS`), so while 5 patients publish at 10× files sealed to a pair just retired are always
 * in flight (in the host's inbox, in the enclave's micro-batch, their results in the outbox). After 2 key changes the
 * cloud is restarted (SIGTERM, then started again on the same directories): the ring and its rotation schedule come
 * back from the sealed keys file. After 2 more the gateway is SIGKILLed at a seeded moment and restarted: results
 * of files the killed run sealed to since-retired keys are verified with the pairs it kept (attested.json). Then 2
 * more key changes. Invariants I1, I2, I3; no file refused by the host (a file sealed to a key the enclave
 * no longer holds would be quarantined there). Prints the rotations (the enclave's ring) and the re-attestations.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { sealedKeyIds } from '../enclave/index.js';
import type { EmbeddedBroker } from '../gateway/index.js';
import type { CliProcess } from '../test-support/processes.js';
import { printInvariants } from './report.js';
import { faultSeed, seededRandom } from './seed.js';
import { createStack, drainAndCheck, killAtRandomMoments, resultsKept, sigkill, sigterm, startSuiteBroker, untilSettled, type FaultStack } from './stack.js';

const PATIENTS = 5;
const ROTATION_S = 3;
const RETENTION_S = 60;
/** Key changes the gateway must see before the cloud restart, and again after it. */
const CHANGES = 2;
const CLOUD_ENV = { HRVAULT_CLOUD_ENCLAVE_KEY_ROTATION_S: String(ROTATION_S), HRVAULT_CLOUD_ENCLAVE_KEY_RETENTION_S: String(RETENTION_S) };
const GATEWAY_ENV = { HRVAULT_GATEWAY_ATTESTATION_MAX_AGE_S: '1' };

const count = (p: CliProcess, line: string): number => p.stderr().split(line).length - 1;

let broker: EmbeddedBroker | undefined;
let stack: FaultStack | undefined;
afterAll(async () => {
  await stack?.close(process.env.HRVAULT_FAULTS_KEEP === '1');
  await broker?.close();
});

describe('faults: enclave key rotation under load', () => {
  it('no file in flight is lost when the enclave rotates its keys every few seconds, across cloud and gateway restarts', async () => {
    const seed = faultSeed();
    const prefix = `hrvault/v1/keys${process.pid}`;
    broker = await startSuiteBroker(prefix);
    stack = createStack({ name: 'key-rotation', patients: PATIENTS, seed, mqttUrl: broker.url, topicPrefix: prefix });
    const rand = seededRandom(seed, 'key-rotation');
    let cloud = await stack.startCloud(CLOUD_ENV);
    let gw = await stack.startGateway({ env: GATEWAY_ENV });
    const fleet = await stack.startSensors(null, 10);
    const gateways = (): CliProcess[] => stack!.runs.filter((x) => x.name === 'gateway').map((x) => x.proc);
    const changes = (): number => gateways().reduce((s, p) => s + count(p, 'enclave key changed'), 0);
    const untilChanges = async (n: number, when: string): Promise<void> => {
      const from = changes();
      // Nothing moves when neither a key change nor an attestation nor a kept result came for 30 s: on a loaded
      // machine (load 25 in one CI run) one key change took longer than 30 s while the pipeline kept working.
      const attested = (): number => gateways().reduce((s, p) => s + count(p, 'enclave attested'), 0);
      const ok = await untilSettled(() => changes() >= from + n, () => changes() + attested() + resultsKept(gw), 30_000);
      const attestations = gateways().reduce((s, p) => s + count(p, 'enclave attested'), 0);
      expect(ok, `the gateway saw ${changes() - from} of ${n} key changes ${when} (${attestations} attestations); its log ends:\n${gw.stderr().slice(-1500)}`).toBe(true);
    };
    let changesAtRestart: number | undefined;
    let gatewayKill: string | undefined;
    try {
      // Key changes are counted once the pipeline runs (start-up on a loaded machine takes a while).
      await untilSettled(() => resultsKept(gw) >= PATIENTS, () => resultsKept(gw));
      await untilChanges(CHANGES, 'before the cloud restart');
      changesAtRestart = changes();
      await sigterm(cloud);
      cloud = await stack.startCloud(CLOUD_ENV);
      await untilChanges(CHANGES, 'after the cloud restart');
      // A gateway SIGKILLed at a seeded moment: its next run must still verify results of files the killed one sealed
      // to keys since retired (it keeps every pair it attested, attested.json).
      [gatewayKill] = await killAtRandomMoments(1, rand, 2000, () => resultsKept(gw), async () => {
        await sigkill(gw);
        gw = await stack!.startGateway({ env: GATEWAY_ENV });
      });
      await untilChanges(CHANGES, 'after the gateway restart');
    } finally {
      await fleet.stop();
    }
    const r = await drainAndCheck(stack, fleet, gw, cloud, {});
    const keyIds = sealedKeyIds(stack.enclaveDir);
    const hostRejections = stack.hostRejections();
    const facts = {
      seed,
      rotation_s: ROTATION_S,
      retention_s: RETENTION_S,
      cloud_restarts: stack.runs.filter((x) => x.name === 'cloud').length - 1,
      // Every pair but the first was made by a rotation: held (current, retained) or erased after the retention.
      enclave_rotations: keyIds.held.length - 1 + keyIds.erased.length,
      gateway_kill: gatewayKill,
      gateway_attestations: gateways().reduce((s, p) => s + count(p, 'enclave attested'), 0),
      gateway_key_changes: changes(),
      key_changes_before_restart: changesAtRestart,
      results_signed_by_unattested_key: gateways().reduce((s, p) => s + count(p, 'result signed by an enclave key not attested yet'), 0),
      results_rejected: gateways().reduce((s, p) => s + count(p, 'result rejected'), 0),
      published: r.published,
      host_rejections: hostRejections,
      gateway_sigterm: r.gatewaySigterm,
    };
    printInvariants('key-rotation', r, facts);
    if (r.gatewaySigterm !== 'exited') console.log(`faults: key-rotation: the last gateway's log ends:\n${gateways().at(-1)!.stderr().slice(-3000)}\nstdout: ${gateways().at(-1)!.stdout().slice(-1000)}`);
    expect(r.i1.ok, 'I1').toBe(true);
    expect(r.i2, 'I2').toEqual([]);
    expect(r.i3, 'I3').toEqual([]);
    expect(hostRejections, 'files refused by the host').toEqual({});
    expect(facts.results_rejected, 'results the gateway rejected').toBe(0);
    expect(facts.enclave_rotations).toBeGreaterThanOrEqual(3 * CHANGES);
    // A gateway that keeps a connection open after its drain does not end on SIGTERM (seen in 5 of 14 runs: an SFTP
    // socket to the cloud left open — two connections made at once at start-up, one of them orphaned).
    expect(r.gatewaySigterm, 'the gateway ends on SIGTERM').toBe('exited');
  });
});
