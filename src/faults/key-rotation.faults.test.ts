/**
 * Scenario "key-rotation": the enclave rotates its HPKE and signing key pair every 3 s (`cloud.enclaveKeyRotationS`)
 * and keeps retired pairs for 60 s; the gateway re-attests when its attestation is older than 1 s
 * (`gateway.attestationMaxAgeS`), so while 5 patients publish at 10× files sealed to a pair just retired are always
 * in flight (in the host's inbox, in the enclave's micro-batch, their results in the outbox). Half-way the cloud is
 * restarted (SIGTERM, then started again on the same directories): the ring and its rotation schedule come back
 * from the sealed keys file. Invariants I1, I2, I3; no file refused by the host (a file sealed to a key the enclave
 * no longer holds would be quarantined there). Prints the rotations (the enclave's ring) and the re-attestations.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { sealedKeyIds } from '../enclave/index.js';
import type { EmbeddedBroker } from '../gateway/index.js';
import type { CliProcess } from '../test-support/processes.js';
import { printInvariants } from './report.js';
import { faultSeed } from './seed.js';
import { createStack, drainAndCheck, resultsKept, sigterm, startSuiteBroker, untilSettled, type FaultStack } from './stack.js';

const PATIENTS = 5;
const ROTATION_S = 3;
const RETENTION_S = 60;
/** Key changes the gateway must see before the cloud restart, and again after it. */
const CHANGES = 3;
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
  it('no file in flight is lost when the enclave rotates its keys every few seconds, across a cloud restart', async () => {
    const seed = faultSeed();
    const prefix = `hrvault/v1/keys${process.pid}`;
    broker = await startSuiteBroker(prefix);
    stack = createStack({ name: 'key-rotation', patients: PATIENTS, seed, mqttUrl: broker.url, topicPrefix: prefix });
    let cloud = await stack.startCloud(CLOUD_ENV);
    const gw = await stack.startGateway({ env: GATEWAY_ENV });
    const fleet = await stack.startSensors(null, 10);
    const changes = (): number => count(gw, 'enclave key changed');
    const moving = (): number => resultsKept(gw) + changes() + fleet.stats().published;
    let changesAtRestart = 0;
    try {
      const before = await untilSettled(() => changes() >= CHANGES, moving, 30_000);
      expect(before, `the gateway saw ${changes()} key changes before the restart`).toBe(true);
      changesAtRestart = changes();
      await sigterm(cloud);
      cloud = await stack.startCloud(CLOUD_ENV);
      const after = await untilSettled(() => changes() >= changesAtRestart + CHANGES, moving, 30_000);
      expect(after, `the gateway saw ${changes() - changesAtRestart} key changes after the restart`).toBe(true);
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
      gateway_attestations: count(gw, 'enclave attested'),
      gateway_key_changes: changes(),
      key_changes_before_restart: changesAtRestart,
      results_signed_by_unattested_key: count(gw, 'result signed by an enclave key not attested yet'),
      results_rejected: count(gw, 'result rejected'),
      published: r.published,
      host_rejections: hostRejections,
      gateway_sigterm: r.gatewaySigterm,
    };
    printInvariants('key-rotation', r, facts);
    expect(r.i1.ok, 'I1').toBe(true);
    expect(r.i2, 'I2').toEqual([]);
    expect(r.i3, 'I3').toEqual([]);
    expect(hostRejections, 'files refused by the host').toEqual({});
    expect(facts.results_rejected, 'results the gateway rejected').toBe(0);
    expect(facts.enclave_rotations).toBeGreaterThanOrEqual(2 * CHANGES);
  });
});
