/** For tests that open the results a real gateway's pipeline produced, as the gateway does, in either sealed-file version. */
import { envelopeVersionOf, EPOCH_ENVELOPE_VERSION, openEnvelope, openEpochEnvelope, type EnvelopeHeader } from '../../crypto/index.js';
import { readStoredEpoch } from '../epoch-keys.js';

/**
 * Opens a result file for a gateway: version 2 under the epoch secret it stored in `epochsDir` (`<its dataDir>/epochs`,
 * read only), version 1 with its HPKE key and the enclave's signing key.
 */
export function openGatewayResult(
  epochsDir: string,
  gatewayId: string,
  keys: { hpkePrivateKey: Uint8Array },
  enclaveSigningKey: Uint8Array,
  bytes: Uint8Array,
): { header: EnvelopeHeader; plaintext: Uint8Array } {
  if (envelopeVersionOf(bytes) === EPOCH_ENVELOPE_VERSION) {
    return openEpochEnvelope(bytes, (p) => readStoredEpoch(epochsDir, gatewayId, p.block.idHex), { expectedKind: 'hrv-result' });
  }
  return openEnvelope(keys.hpkePrivateKey, bytes, { expectedKind: 'hrv-result', senderKey: () => enclaveSigningKey });
}
