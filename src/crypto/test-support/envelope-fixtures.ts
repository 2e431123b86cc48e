/** Fixtures shared by the two envelope versions' tests: a batch header as the gateway writes it, a CSV body, and error codes. */
import { EnvelopeError } from '../envelope-framing.js';
import { keyIdOf } from '../envelope.js';
import { pseudonymise } from '../index.js';
import type { EnvelopeHeader } from '../../contracts/index.js';

/** An rr-batch header of gateway gw-1, patient 7, seq 42, sealed to `enclavePublicKey`. */
export function batchHeader(enclavePublicKey: Uint8Array): EnvelopeHeader {
  return {
    v: 1,
    kind: 'rr-batch',
    gateway: 'gw-1',
    patient: pseudonymise('patient-007', new Uint8Array(32).fill(7)),
    seq: 42,
    t_start_ms: 10_000,
    t_end_ms: 20_000,
    key_id: keyIdOf(enclavePublicKey),
  };
}

export const sampleCsv = new TextEncoder().encode('time_ms,rr_ms\n10812,812\n11617,805\n12431,814\n');

/** The EnvelopeError code `fn` throws, or 'opened' if it returns; any other error is rethrown. */
export function envelopeCodeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof EnvelopeError) return err.code;
    throw err;
  }
  return 'opened';
}
