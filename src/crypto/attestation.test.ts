import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AttestationError, createQuote, generateHpkeKeyPair, generateSigningKeyPair, verifyQuote, verifyQuoteDetails, type Quote } from './index.js';

const platform = generateSigningKeyPair();
const enclave = generateHpkeKeyPair();
const enclaveSig = generateSigningKeyPair();
const measurement = 'ab'.repeat(32);
const nonce = new Uint8Array(randomBytes(32));
const quote = createQuote(platform.privateKey, { measurement, enclavePublicKey: enclave.publicKey, enclaveSigningKey: enclaveSig.publicKey, nonce });
const opts = { platformPublicKey: platform.publicKey, allowedMeasurements: [measurement], nonce, allowSoftwareQuotes: true };

function codeOf(q: unknown, o = opts): string {
  try {
    verifyQuote(q, o);
    return 'accepted';
  } catch (err) {
    if (err instanceof AttestationError) return err.code;
    throw err;
  }
}

describe('attestation quotes', () => {
  it('accepts a quote that answers our nonce and returns the enclave keys it vouches for', () => {
    expect(verifyQuote(quote, opts)).toEqual(enclave.publicKey);
    expect(verifyQuoteDetails(quote, opts).enclaveSigningKey).toEqual(enclaveSig.publicKey);
  });

  it('refuses software quotes unless configured to accept them, and every DCAP quote', () => {
    expect(codeOf(quote, { ...opts, allowSoftwareQuotes: false })).toBe('HRV_ERR_ATTESTATION_UNSUPPORTED');
    expect(codeOf({ ...quote, backend: 'sgx-dcap' })).toBe('HRV_ERR_ATTESTATION_UNSUPPORTED');
  });

  it('refuses a quote signed by another platform key or with a swapped enclave key', () => {
    const rogue = createQuote(generateSigningKeyPair().privateKey, { measurement, enclavePublicKey: enclave.publicKey, enclaveSigningKey: enclaveSig.publicKey, nonce });
    expect(codeOf(rogue)).toBe('HRV_ERR_ATTESTATION_SIGNATURE');
    const swapped: Quote = { ...quote, enclave_public_key: Buffer.from(generateHpkeKeyPair().publicKey).toString('hex') };
    expect(codeOf(swapped)).toBe('HRV_ERR_ATTESTATION_SIGNATURE');
  });

  it('refuses a measurement not on the allow-list', () => {
    expect(codeOf(quote, { ...opts, allowedMeasurements: ['cd'.repeat(32)] })).toBe('HRV_ERR_ATTESTATION_MEASUREMENT');
  });

  it('refuses a quote for another nonce (replayed quote)', () => {
    expect(codeOf(quote, { ...opts, nonce: new Uint8Array(randomBytes(32)) })).toBe('HRV_ERR_ATTESTATION_NONCE');
  });

  it('refuses malformed quotes naming the field', () => {
    expect(codeOf({ ...quote, measurement: 'xyz' })).toBe('HRV_ERR_ATTESTATION_MALFORMED');
    expect(() => verifyQuote({ ...quote, extra: 1 }, opts)).toThrow(AttestationError);
    expect(() => verifyQuote(null, opts)).toThrow(/quote invalid/);
  });
});
