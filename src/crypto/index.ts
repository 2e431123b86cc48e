/**
 * hrvault's sealing and attestation primitives for the pipeline: HPKE (RFC 9180), the sealed-file
 * envelope (version 1: HPKE per file; version 2: HPKE once per gateway epoch, AES-GCM per file), Ed25519 sender signatures, attestation quotes and patient pseudonyms; and the access protocol's
 * handshake, AEAD channel and Paillier. Other components use them only through this file.
 */
import { createHmac } from 'node:crypto';
import { HrvaultError } from '../errors.js';

export {
  generateHpkeKeyPair,
  hpkeSeal,
  hpkeOpen,
  hpkePublicKeyOf,
  deriveHpkeKeyPair,
  HpkeError,
  type HpkeKeyPair,
  type HpkeAead,
} from './hpke.js';
export {
  sealEnvelope,
  openEnvelope,
  readEnvelopeHeader,
  keyIdOf,
  defaultPadBucket,
  encodePlainFile,
  decodePlainFile,
  EnvelopeError,
  MAX_ENVELOPE_BYTES,
  type EnvelopeHeader,
  type EnvelopeKind,
  type OpenEnvelopeOptions,
  type SealEnvelopeOptions,
} from './envelope.js';
export {
  createEpoch,
  deriveEpochKeys,
  openEpochEnvelope,
  parseEpochEnvelope,
  readEpochEnvelopeHeader,
  sealEpochEnvelope,
  unlockEpochBlock,
  EPOCH_ENVELOPE_VERSION,
  EPOCH_ID_BYTES,
  EPOCH_SECRET_BYTES,
  type EpochBlock,
  type EpochBlockParams,
  type EpochKeys,
  type OpenEpochOptions,
  type ParsedEpochEnvelope,
  type SealEpochOptions,
} from './epoch-envelope.js';
export { envelopeVersionOf } from './envelope-framing.js';
export { generateSigningKeyPair, signingKeyObject, signingPublicKeyOf, signBytes, verifyBytes, type SigningKeyPair } from './signing.js';
export { generateSshKeyPair } from './ssh-keys.js';
export {
  ephemeralX25519,
  generateRawKeyPair,
  importRawPrivateKey,
  importRawPublicKey,
  rawPrivateKeyOf,
  rawPublicKeyOf,
  x25519,
  RawKeyError,
  RAW_KEY_BYTES,
  type EphemeralX25519,
  type RawKeyCurve,
  type RawKeyPair,
} from './raw-keys.js';
export * from './handshake.js';
export * from './aead-channel.js';
export * from './paillier.js';
export {
  createQuote,
  verifyQuote,
  verifyQuoteDetails,
  quoteSchema,
  AttestationError,
  type Quote,
  type QuoteBackend,
  type VerifiedQuote,
  type VerifyQuoteOptions,
} from './attestation.js';

/** Keyed pseudonym of a patient id: HMAC-SHA256 under the gateway's key, first 16 bytes in hex (32 chars). */
export function pseudonymise(patientId: string, key: Uint8Array): string {
  if (!(key instanceof Uint8Array) || key.length < 16) throw new HrvaultError('HRV_ERR_CONFIG', 'pseudonym key must be at least 16 bytes');
  if (typeof patientId !== 'string' || patientId.length === 0) throw new HrvaultError('HRV_ERR_VALIDATION', 'patient id must be a non-empty string');
  return createHmac('sha256', key).update('hrvault/v1/patient\0').update(patientId).digest('hex').slice(0, 32);
}
export { partitionOf } from './partition.js';
