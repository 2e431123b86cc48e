/**
 * Attestation quotes: a platform key signs {code measurement, the enclave's HPKE and signing public keys,
 * the verifier's nonce}. The software backend's platform key is a local Ed25519 key the verifier pins; an
 * SGX backend would produce DCAP quotes, which this verifier does not check and therefore refuses.
 */
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { HrvaultError, type ErrorCode } from '../errors.js';
import { signBytes, verifyBytes } from './signing.js';

/** A quote was refused; `code` says why. */
export class AttestationError extends HrvaultError {
  constructor(code: Extract<ErrorCode, `HRV_ERR_ATTESTATION_${string}`>, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'AttestationError';
  }
}

/** Who produced the quote. */
export type QuoteBackend = 'software' | 'sgx-dcap';

/** A quote as it travels (JSON; byte fields in lowercase hex). */
export interface Quote {
  v: 1;
  backend: QuoteBackend;
  measurement: string;
  enclave_public_key: string;
  enclave_signing_key: string;
  nonce: string;
  signature: string;
}

const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `must be ${bytes} bytes of lowercase hex`);
/** The shape of a quote on the wire, for protocols that carry one inside their own messages. */
export const quoteSchema = z.strictObject({
  v: z.literal(1),
  backend: z.enum(['software', 'sgx-dcap']),
  measurement: hex(32),
  enclave_public_key: hex(32),
  enclave_signing_key: hex(32),
  nonce: z.string().regex(/^([0-9a-f]{2}){16,64}$/, 'must be 16–64 bytes of lowercase hex'),
  signature: hex(64),
});

function signedBytes(q: Omit<Quote, 'signature'>): Uint8Array {
  return Buffer.from(JSON.stringify(['hrvault/v1/quote', q.v, q.backend, q.measurement, q.enclave_public_key, q.enclave_signing_key, q.nonce]));
}

/** Produces a software-backend quote signed by `platformPrivateKey` (Ed25519 seed). */
export function createQuote(
  platformPrivateKey: Uint8Array,
  fields: { measurement: string; enclavePublicKey: Uint8Array; enclaveSigningKey: Uint8Array; nonce: Uint8Array },
): Quote {
  const body: Omit<Quote, 'signature'> = {
    v: 1,
    backend: 'software',
    measurement: fields.measurement,
    enclave_public_key: Buffer.from(fields.enclavePublicKey).toString('hex'),
    enclave_signing_key: Buffer.from(fields.enclaveSigningKey).toString('hex'),
    nonce: Buffer.from(fields.nonce).toString('hex'),
  };
  return { ...body, signature: Buffer.from(signBytes(platformPrivateKey, signedBytes(body))).toString('hex') };
}

export interface VerifyQuoteOptions {
  /** The pinned platform Ed25519 public key (32 raw bytes). */
  platformPublicKey: Uint8Array;
  /** SHA-256 measurements (hex) of enclave code bundles the verifier trusts. */
  allowedMeasurements: string[];
  /** The nonce this verifier sent (16–64 bytes). */
  nonce: Uint8Array;
  /** Accept quotes from the software backend (development and this demo only). */
  allowSoftwareQuotes: boolean;
}

/** What a verified quote vouches for. */
export interface VerifiedQuote {
  enclavePublicKey: Uint8Array;
  enclaveSigningKey: Uint8Array;
  measurement: string;
  backend: QuoteBackend;
}

/** Checks a quote completely and returns what it vouches for, or throws AttestationError naming the failed check. */
export function verifyQuoteDetails(quote: unknown, opts: VerifyQuoteOptions): VerifiedQuote {
  const parsed = quoteSchema.safeParse(quote);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AttestationError('HRV_ERR_ATTESTATION_MALFORMED', `quote invalid: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unknown'}`);
  }
  const q = parsed.data;
  if (q.backend === 'sgx-dcap') throw new AttestationError('HRV_ERR_ATTESTATION_UNSUPPORTED', 'SGX DCAP quotes are not verified by this build');
  if (!opts.allowSoftwareQuotes) throw new AttestationError('HRV_ERR_ATTESTATION_UNSUPPORTED', 'quote comes from the software backend and this verifier does not accept software quotes');
  if (!verifyBytes(opts.platformPublicKey, signedBytes(q), Buffer.from(q.signature, 'hex'))) {
    throw new AttestationError('HRV_ERR_ATTESTATION_SIGNATURE', 'quote is not signed by the pinned platform key');
  }
  if (!opts.allowedMeasurements.map((m) => m.toLowerCase()).includes(q.measurement)) {
    throw new AttestationError('HRV_ERR_ATTESTATION_MEASUREMENT', `enclave measurement ${q.measurement} is not on the allow-list`);
  }
  const nonce = Buffer.from(q.nonce, 'hex');
  if (nonce.length !== opts.nonce.length || !timingSafeEqual(nonce, opts.nonce)) {
    throw new AttestationError('HRV_ERR_ATTESTATION_NONCE', 'quote answers a different nonce (stale or replayed quote)');
  }
  return {
    enclavePublicKey: new Uint8Array(Buffer.from(q.enclave_public_key, 'hex')),
    enclaveSigningKey: new Uint8Array(Buffer.from(q.enclave_signing_key, 'hex')),
    measurement: q.measurement,
    backend: q.backend,
  };
}

/** Verifies a quote and returns the enclave's HPKE public key (32 bytes), or throws AttestationError. */
export function verifyQuote(quote: unknown, opts: VerifyQuoteOptions): Uint8Array {
  return verifyQuoteDetails(quote, opts).enclavePublicKey;
}
