import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createQuote,
  type Quote,
  generateHpkeKeyPair,
  hpkeSeal,
  generateSigningKeyPair,
  signBytes,
} from '../crypto/index.js';
import { HrvaultError } from '../errors.js';
import {
  acceptProvisionResponse,
  answerProvisionRequest,
  createProvisionRequest,
  type PendingProvision,
  type ProvisionResponse,
  type ProvisionVerifyOptions,
} from './provisioning.js';

const measurement = 'ab'.repeat(32);
const otherMeasurement = 'cd'.repeat(32);
// Two workers' platform keys (software mode: one key file per worker), both trusted.
const platformA = generateSigningKeyPair();
const platformB = generateSigningKeyPair();
const rogue = generateSigningKeyPair();
const cluster = { hpke: generateHpkeKeyPair(), signing: generateSigningKeyPair() };
const answerer = {
  hpkePublicKey: cluster.hpke.publicKey,
  signingPrivateKey: cluster.signing.privateKey,
  signingPublicKey: cluster.signing.publicKey,
};
const secrets = new Uint8Array(randomBytes(300));
const verify: ProvisionVerifyOptions = {
  platformPublicKeys: [platformA.publicKey, platformB.publicKey],
  allowedMeasurements: [measurement],
  allowSoftwareQuotes: true,
};

/** A holder on worker A answers with the cluster's keys. */
function answer(
  request: unknown,
  over: Partial<Parameters<typeof answerProvisionRequest>[1]> = {},
): ProvisionResponse {
  return answerProvisionRequest(request, {
    secrets,
    answerer,
    platformPrivateKey: platformA.privateKey,
    measurement,
    verify,
    ...over,
  });
}

/** A new enclave on worker B asks. */
function ask(
  over: { platformPrivateKey?: Uint8Array; measurement?: string } = {},
): ReturnType<typeof createProvisionRequest> {
  return createProvisionRequest({ platformPrivateKey: platformB.privateKey, measurement, ...over });
}

function codeOf(f: () => unknown): string {
  try {
    f();
    return 'accepted';
  } catch (err) {
    if (err instanceof HrvaultError) return err.code;
    throw err;
  }
}

function messageOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    if (err instanceof HrvaultError) return `${err.code}: ${err.message}`;
    throw err;
  }
  throw new Error('expected a refusal');
}

/**
 * The HPKE info as a host computes it from public data alone, written here from the protocol's description
 * (label, nonce, SHA-256 of each quote's fields in order) so the forgery below is the strongest one a host has.
 */
function hostTranscript(nonceHex: string, requestQuote: Quote, answerQuote: Quote): Buffer {
  const digest = (q: Quote): string =>
    createHash('sha256')
      .update(JSON.stringify(['hrvault/v1/provision/quote-digest', ...Object.values(q)]))
      .digest('hex');
  return Buffer.from(
    JSON.stringify(['hrvault/v1/provision', nonceHex, digest(requestQuote), digest(answerQuote)]),
  );
}

/** Flips one bit in a hex string at byte `at`. */
function flip(h: string, at = 0): string {
  const b = Buffer.from(h, 'hex');
  b[at]! ^= 1;
  return b.toString('hex');
}

describe('cluster-secrets provisioning', () => {
  it('moves the secrets from a holder to a new enclave and reports the cluster keys the holder vouched for', () => {
    const { request, pending } = ask();
    // Both messages cross hosts and NATS as JSON.
    const response = answer(JSON.parse(JSON.stringify(request)));
    const got = acceptProvisionResponse(JSON.parse(JSON.stringify(response)), pending, verify);
    expect(Buffer.from(got.secrets).equals(secrets)).toBe(true);
    expect(got.vouched.publicKey).toEqual(cluster.hpke.publicKey);
    expect(got.vouched.signingPublicKey).toEqual(cluster.signing.publicKey);
  });

  it('uses a fresh nonce and ephemeral key for every request', () => {
    const a = ask();
    const b = ask();
    expect(a.request.nonce).not.toBe(b.request.nonce);
    expect(a.request.quote.enclave_public_key).not.toBe(b.request.quote.enclave_public_key);
    expect(a.request.nonce).toHaveLength(64);
  });

  describe('the holder refuses a requester', () => {
    it('whose quote reports a measurement not on the allow-list', () => {
      const { request } = ask({ measurement: otherMeasurement });
      expect(messageOf(() => answer(request))).toMatch(/^HRV_ERR_ATTESTATION_MEASUREMENT: requester quote: /);
    });

    it('whose quote is signed by an untrusted platform key', () => {
      const { request } = ask({ platformPrivateKey: rogue.privateKey });
      expect(messageOf(() => answer(request))).toMatch(
        /^HRV_ERR_ATTESTATION_SIGNATURE: requester quote is not signed by any of the 2 trusted/,
      );
    });

    it('with a software quote when software quotes are not accepted', () => {
      const { request } = ask();
      expect(codeOf(() => answer(request, { verify: { ...verify, allowSoftwareQuotes: false } }))).toBe(
        'HRV_ERR_ATTESTATION_UNSUPPORTED',
      );
    });

    it('whose quote answers another nonce than the request names (a quote lifted from another request)', () => {
      const first = ask().request;
      const second = ask().request;
      expect(codeOf(() => answer({ ...second, quote: first.quote }))).toBe('HRV_ERR_ATTESTATION_NONCE');
    });

    it('whose ephemeral key was swapped by the host', () => {
      const { request } = ask();
      const swapped = {
        ...request,
        quote: {
          ...request.quote,
          enclave_public_key: Buffer.from(generateHpkeKeyPair().publicKey).toString('hex'),
        },
      };
      expect(codeOf(() => answer(swapped))).toBe('HRV_ERR_ATTESTATION_SIGNATURE');
    });
  });

  describe('the new enclave refuses a response', () => {
    it('to another request (its quote answers another nonce)', () => {
      const mine = ask();
      const theirs = ask();
      const response = answer(theirs.request);
      expect(messageOf(() => acceptProvisionResponse(response, mine.pending, verify))).toMatch(
        /^HRV_ERR_ATTESTATION_NONCE: answerer quote: /,
      );
    });

    it('replayed from an earlier exchange to a new request', () => {
      const old = ask();
      const oldResponse = answer(old.request);
      expect(
        Buffer.from(acceptProvisionResponse(oldResponse, old.pending, verify).secrets).equals(secrets),
      ).toBe(true);
      const fresh = ask();
      expect(codeOf(() => acceptProvisionResponse(oldResponse, fresh.pending, verify))).toBe(
        'HRV_ERR_ATTESTATION_NONCE',
      );
    });

    it('whose answerer quote comes from an untrusted platform', () => {
      const { request, pending } = ask();
      const response = answer(request, { platformPrivateKey: rogue.privateKey });
      expect(codeOf(() => acceptProvisionResponse(response, pending, verify))).toBe(
        'HRV_ERR_ATTESTATION_SIGNATURE',
      );
      // The same answer is accepted once its platform is trusted, so only the platform key made the difference.
      const trusting = { ...verify, platformPublicKeys: [rogue.publicKey] };
      expect(Buffer.from(acceptProvisionResponse(response, pending, trusting).secrets).equals(secrets)).toBe(
        true,
      );
    });

    it('whose answerer runs code not on the allow-list', () => {
      const { request, pending } = ask();
      const response = answer(request, { measurement: otherMeasurement });
      expect(codeOf(() => acceptProvisionResponse(response, pending, verify))).toBe(
        'HRV_ERR_ATTESTATION_MEASUREMENT',
      );
    });

    it('whose payload the host re-sealed itself under a genuine answerer quote', () => {
      const { request, pending } = ask();
      const genuine = answer(request);
      // The host knows everything public: the requester's ephemeral key, both quotes, the nonce. It can even build
      // the right HPKE info, but it cannot sign for the cluster.
      const forged = new Uint8Array(randomBytes(300));
      const { enc, ciphertext } = hpkeSeal(
        Buffer.from(request.quote.enclave_public_key, 'hex'),
        hostTranscript(request.nonce, request.quote, genuine.quote),
        new Uint8Array(0),
        forged,
      );
      const resealed = {
        ...genuine,
        enc: Buffer.from(enc).toString('hex'),
        ciphertext: Buffer.from(ciphertext).toString('hex'),
      };
      expect(codeOf(() => acceptProvisionResponse(resealed, pending, verify))).toBe(
        'HRV_ERR_PROVISION_SIGNATURE',
      );
      // Nor can it sign with a key of its own: the signature must be under the key the quote vouches for.
      const hostKey = generateSigningKeyPair();
      const selfSigned = {
        ...resealed,
        signature: Buffer.from(signBytes(hostKey.privateKey, Buffer.from('anything'))).toString('hex'),
      };
      expect(codeOf(() => acceptProvisionResponse(selfSigned, pending, verify))).toBe(
        'HRV_ERR_PROVISION_SIGNATURE',
      );
    });

    it('whose answerer quote was swapped for a genuine quote of another exchange with the same nonce', () => {
      const { request, pending } = ask();
      const genuine = answer(request);
      // An enclave with other cluster keys, quoted on a trusted platform for this very nonce.
      const other = { hpke: generateHpkeKeyPair(), signing: generateSigningKeyPair() };
      const otherQuote = createQuote(platformA.privateKey, {
        measurement,
        enclavePublicKey: other.hpke.publicKey,
        enclaveSigningKey: other.signing.publicKey,
        nonce: Buffer.from(request.nonce, 'hex'),
      });
      expect(codeOf(() => acceptProvisionResponse({ ...genuine, quote: otherQuote }, pending, verify))).toBe(
        'HRV_ERR_PROVISION_SIGNATURE',
      );
    });

    it('with a tampered ciphertext, encapsulation or signature', () => {
      const { request, pending } = ask();
      const response = answer(request);
      for (const [field, at] of [
        ['ciphertext', 5],
        ['ciphertext', 310],
        ['enc', 0],
        ['signature', 10],
      ] as const) {
        const tampered = { ...response, [field]: flip(response[field], at) };
        expect(
          codeOf(() => acceptProvisionResponse(tampered, pending, verify)),
          `${field}@${at}`,
        ).toBe('HRV_ERR_PROVISION_SIGNATURE');
      }
      expect(Buffer.from(acceptProvisionResponse(response, pending, verify).secrets).equals(secrets)).toBe(
        true,
      );
    });

    it('whose signed payload does not open with the pending ephemeral key', () => {
      const { request, pending } = ask();
      const response = answer(request);
      const wrongKey: PendingProvision = { ...pending, hpkePrivateKey: generateHpkeKeyPair().privateKey };
      expect(codeOf(() => acceptProvisionResponse(response, wrongKey, verify))).toBe(
        'HRV_ERR_PROVISION_PAYLOAD',
      );
    });
  });

  describe('malformed messages are refused, naming the field', () => {
    const { request, pending } = ask();
    const response = answer(request);

    it.each([
      ['a request that is not an object', 'nope', /\(root\)/],
      ['a short nonce', { ...request, nonce: 'ab'.repeat(16) }, /nonce: must be 32 bytes/],
      [
        'an upper-case nonce',
        { ...request, nonce: request.nonce.toUpperCase() },
        /nonce: must be 32 bytes of lowercase hex/,
      ],
      ['a missing quote', { v: 1, kind: 'provision-request', nonce: request.nonce }, /quote/],
      [
        'a bad quote measurement',
        { ...request, quote: { ...request.quote, measurement: 'zz' } },
        /quote\.measurement/,
      ],
      ['an unknown version', { ...request, v: 2 }, /\bv:/],
      ['a response in place of a request', response, /kind/],
      ['an extra field', { ...request, secrets: 'aa' }, /unrecognized key/i],
    ])('request: %s', (_what, bad, named) => {
      const msg = messageOf(() => answer(bad));
      expect(msg).toMatch(/^HRV_ERR_PROVISION_MALFORMED: provision request invalid: /);
      expect(msg).toMatch(named);
    });

    it.each([
      ['a short enc', { ...response, enc: 'ab' }, /enc: must be 32 bytes/],
      [
        'a ciphertext shorter than the tag',
        { ...response, ciphertext: 'ab'.repeat(15) },
        /ciphertext: must be at least/,
      ],
      [
        'an odd-length ciphertext',
        { ...response, ciphertext: `${response.ciphertext}a` },
        /ciphertext: must be lowercase hex/,
      ],
      [
        'an oversized ciphertext',
        { ...response, ciphertext: 'ab'.repeat(1024 * 1024 + 17) },
        /ciphertext: must be at most/,
      ],
      [
        'a signature of the wrong length',
        { ...response, signature: 'ab'.repeat(63) },
        /signature: must be 64 bytes/,
      ],
      [
        'a quote with a bad signing key',
        { ...response, quote: { ...response.quote, enclave_signing_key: 42 } },
        /quote\.enclave_signing_key/,
      ],
      ['a request in place of a response', request, /kind/],
      ['null', null, /\(root\)/],
    ])('response: %s', (_what, bad, named) => {
      const msg = messageOf(() => acceptProvisionResponse(bad, pending, verify));
      expect(msg).toMatch(/^HRV_ERR_PROVISION_MALFORMED: provision response invalid: /);
      expect(msg).toMatch(named);
    });
  });

  describe('local inputs', () => {
    it('refuse an empty trust list, an answerer whose key pair does not match, and empty secrets', () => {
      const { request, pending } = ask();
      const response = answer(request);
      expect(
        messageOf(() => acceptProvisionResponse(response, pending, { ...verify, platformPublicKeys: [] })),
      ).toMatch(/^HRV_ERR_PROVISION_CONFIG: .*platformPublicKeys/);
      const mismatched = { ...answerer, signingPrivateKey: generateSigningKeyPair().privateKey };
      expect(messageOf(() => answer(request, { answerer: mismatched }))).toMatch(
        /^HRV_ERR_PROVISION_CONFIG: answerer signing private key/,
      );
      expect(messageOf(() => answer(request, { secrets: new Uint8Array(0) }))).toMatch(
        /^HRV_ERR_PROVISION_CONFIG: .*secrets/,
      );
      expect(
        messageOf(() => createProvisionRequest({ platformPrivateKey: new Uint8Array(31), measurement })),
      ).toMatch(/^HRV_ERR_PROVISION_CONFIG: .*platformPrivateKey/);
    });
  });
});
