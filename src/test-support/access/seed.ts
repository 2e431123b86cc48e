/**
 * Seeds a CSP with real pipeline results through the device path every result takes in production: a
 * gateway registered for the patient signs a device token and forwards the enclave's results.
 */
import { generateSigningKeyPair } from '../../crypto/index.js';
import type { HrvResult } from '../../contracts/index.js';
import { pipelineResults, type PipelineFixtureOptions } from '../pipeline-fixtures.js';
import type { CspService } from '../../csp/index.js';
import { signDeviceToken } from '../../csp/index.js';

let counter = 0;

/** Registers a fresh gateway for `patient` and ingests `pipelineResults(opts)` for it; returns the results. */
export async function seedResults(csp: CspService, patient: string, opts: PipelineFixtureOptions = {}): Promise<HrvResult[]> {
  const key = generateSigningKeyPair();
  const gateway = opts.gateway ?? `gw-seed-${++counter}`;
  await csp.registerDevice('bootstrap', { id: gateway, signing_public_key: Buffer.from(key.publicKey).toString('hex'), patients: [patient] });
  const results = pipelineResults({ ...opts, gateway });
  for (let i = 0; i < results.length; i += 100) {
    const device = await csp.authenticateDevice(await signDeviceToken(key, gateway));
    await csp.ingestResults(device, { gateway, items: results.slice(i, i + 100).map((result) => ({ patient, result })) });
  }
  return results;
}
