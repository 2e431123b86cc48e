/**
 * Provisioning the cluster secrets (the key ring and the state secret, as opaque bytes) from an enclave that
 * holds them to a new enclave, across untrusted hosts and NATS. Three pure steps:
 *
 * 1. The new enclave makes a fresh ephemeral HPKE key pair and a fresh 32-byte nonce, and sends a quote binding
 *    both (`createProvisionRequest`). The ephemeral private key stays in the enclave (`PendingProvision`).
 * 2. A holder checks that quote (trusted platform key, allowed measurement), quotes the cluster's public keys
 *    with the requester's nonce, HPKE-seals the secrets to the ephemeral key with the protocol label, the nonce
 *    and both quotes' digests as HPKE info, and signs the whole response with the cluster signing key
 *    (`answerProvisionRequest`).
 * 3. The new enclave checks the holder's quote (trusted platform, allowed measurement, our nonce), the signature
 *    under the signing key that quote vouches for, and opens the secrets (`acceptProvisionResponse`).
 *
 * Threat model: the hosts on both sides and the NATS servers are untrusted; they see every message and can
 * drop, delay, replay, reorder or swap them, or answer in a genuine enclave's place.
 * - A host asking for the secrets with its own key is refused: its quote must be signed by a trusted platform
 *   key over an allowed measurement, so only allowed enclave code holds the private half of the key sealed to.
 * - A host answering with secrets of its choosing (so that a new worker seals state under a key the host knows)
 *   is refused: the answer must carry a quote from a trusted platform over allowed code.
 * - A host replaying an old genuine answer is refused: the answerer's quote must carry this request's nonce,
 *   and the secrets are sealed to an ephemeral key of an earlier request in any case.
 * - A host pairing a genuine answerer quote (from relaying a genuine exchange) with a payload it sealed itself to
 *   the requester's public ephemeral key is refused: the response is signed by the cluster signing key that the
 *   quote vouches for, and only enclaves hold its private half. The HPKE info binds the payload to the nonce
 *   and both quotes, so a payload cannot move to another exchange either.
 * - The answerer needs no freshness of its own: a replayed request only makes it seal the secrets again to an
 *   ephemeral key whose private half never left the requesting enclave. A replay costs the answerer work, which
 *   the host can cause anyway by not relaying; rate limiting is the transport's concern.
 *
 * What it does not stop:
 * - A compromised enclave measurement (a bug in allowed code, or a bad measurement on the allow-list) gets the
 *   secrets; attestation vouches for code identity, not for its correctness.
 * - A compromised platform key (or, in software mode, anyone who can read the platform key file) can quote
 *   anything; software quotes are for development and the demo only.
 * - Rollback: a host can provision a new worker from an enclave holding an older ring (before a rotation). The
 *   caller checks that the ring's current keys equal `vouched`, which stops a mismatched pair, not an old one;
 *   the ring's epoch and the state checkpoints' own fencing must catch staleness.
 * - Another cluster: a genuine enclave of another deployment with the same trusted platform and measurement can
 *   answer. The new worker then holds keys the gateways did not attest, and files sealed to this cluster's key
 *   do not open; pin the expected cluster key (compare `vouched`) if that matters.
 * - Denial of service: a host can always drop messages.
 */
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import {
  AttestationError,
  createQuote,
  quoteSchema,
  verifyQuoteDetails,
  type Quote,
  type VerifiedQuote,
  generateHpkeKeyPair,
  hpkeOpen,
  hpkeSeal,
  HpkeError,
  generateSigningKeyPair,
  signBytes,
  signingPublicKeyOf,
  verifyBytes,
} from '../crypto/index.js';
import { HrvaultError, type ErrorCode } from '../errors.js';

/** A provisioning step was refused or given inconsistent inputs; `code` says which. */
export class ProvisionError extends HrvaultError {
  constructor(
    code: Extract<ErrorCode, `HRV_ERR_PROVISION_${string}`>,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'ProvisionError';
  }
}

const LABEL = 'hrvault/v1/provision';
const NONCE_BYTES = 32;
/** Largest secrets blob carried (bytes): a ring with retained keys and the state secret are a few KiB. */
export const MAX_PROVISION_SECRETS_BYTES = 1024 * 1024;
const TAG_BYTES = 16;

const hexOf = (bytes: number) =>
  z.string().regex(new RegExp(`^([0-9a-f]{2}){${bytes}}$`), `must be ${bytes} bytes of lowercase hex`);

const requestSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('provision-request'),
  nonce: hexOf(NONCE_BYTES),
  quote: quoteSchema,
});

const responseSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('provision-response'),
  quote: quoteSchema,
  enc: hexOf(32),
  ciphertext: z
    .string()
    .regex(/^([0-9a-f]{2})+$/, 'must be lowercase hex')
    .min(2 * TAG_BYTES, `must be at least the ${TAG_BYTES}-byte tag`)
    .max(
      2 * (MAX_PROVISION_SECRETS_BYTES + TAG_BYTES),
      `must be at most ${MAX_PROVISION_SECRETS_BYTES} bytes of secrets`,
    ),
  signature: hexOf(64),
});

/** A new enclave's request for the cluster secrets (JSON-able; travels through untrusted hosts). */
export type ProvisionRequest = z.infer<typeof requestSchema>;
/** A holder's answer: its quote over the cluster's public keys, the sealed secrets and the cluster signature. */
export type ProvisionResponse = z.infer<typeof responseSchema>;

/** What the requesting enclave keeps until the answer arrives; never leaves the enclave. */
export interface PendingProvision {
  readonly nonce: Uint8Array;
  readonly hpkePrivateKey: Uint8Array;
  /** SHA-256 of the request's quote (32 bytes). */
  readonly requestQuoteDigest: Uint8Array;
}

/** Who a verifier trusts. */
export interface ProvisionVerifyOptions {
  /** Trusted platform Ed25519 public keys (32 raw bytes each); a quote signed by any of them is accepted. */
  platformPublicKeys: Uint8Array[];
  /** SHA-256 measurements (hex) of enclave code allowed to hold the secrets. */
  allowedMeasurements: string[];
  /** Accept software-backend quotes (development and the demo only). */
  allowSoftwareQuotes: boolean;
}

/** The cluster's current key pair that vouches for an answer. */
export interface ProvisionAnswerer {
  hpkePublicKey: Uint8Array;
  signingPrivateKey: Uint8Array;
  signingPublicKey: Uint8Array;
}

const key32 = z.instanceof(Uint8Array).refine((k) => k.length === 32, 'must be 32 bytes');
const measurementHex = z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be a 32-byte SHA-256 in hex');
const verifySchema = z.object({
  platformPublicKeys: z.array(key32).min(1, 'must name at least one trusted platform key'),
  allowedMeasurements: z.array(measurementHex).min(1, 'must name at least one measurement'),
  allowSoftwareQuotes: z.boolean(),
});
const quoterSchema = z.object({ platformPrivateKey: key32, measurement: measurementHex });
const answerSchema = quoterSchema.extend({
  secrets: z
    .instanceof(Uint8Array)
    .refine(
      (s) => s.length > 0 && s.length <= MAX_PROVISION_SECRETS_BYTES,
      `must be 1–${MAX_PROVISION_SECRETS_BYTES} bytes`,
    ),
  answerer: z.object({ hpkePublicKey: key32, signingPrivateKey: key32, signingPublicKey: key32 }),
  verify: verifySchema,
});

function firstIssue(err: z.ZodError): string {
  const issue = err.issues[0];
  return issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid';
}

function parseLocal<T>(schema: z.ZodType<T>, raw: unknown, what: string): T {
  const r = schema.safeParse(raw);
  if (!r.success)
    throw new ProvisionError('HRV_ERR_PROVISION_CONFIG', `${what}: ${firstIssue(r.error)}`, {
      cause: r.error,
    });
  return r.data;
}

function parseWire<T>(schema: z.ZodType<T>, raw: unknown, what: string): T {
  const r = schema.safeParse(raw);
  if (!r.success)
    throw new ProvisionError('HRV_ERR_PROVISION_MALFORMED', `${what} invalid: ${firstIssue(r.error)}`, {
      cause: r.error,
    });
  return r.data;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

/** SHA-256 of a quote over every field, signature included, in a fixed order. */
function quoteDigest(q: Quote): Uint8Array {
  const fields = [
    q.v,
    q.backend,
    q.measurement,
    q.enclave_public_key,
    q.enclave_signing_key,
    q.nonce,
    q.signature,
  ];
  return new Uint8Array(
    createHash('sha256')
      .update(JSON.stringify([`${LABEL}/quote-digest`, ...fields]))
      .digest(),
  );
}

/** The exchange both sides agree on: HPKE info for the payload and the head of the signed bytes. */
function transcript(nonce: Uint8Array, requestQuote: Uint8Array, answerQuote: Uint8Array): Buffer {
  return Buffer.from(JSON.stringify([LABEL, hex(nonce), hex(requestQuote), hex(answerQuote)]));
}

function signedResponseBytes(context: Buffer, enc: Uint8Array, ciphertext: Uint8Array): Buffer {
  // Length-prefixed so that no split of context ‖ enc ‖ ciphertext can be read another way.
  const len = Buffer.alloc(4);
  len.writeUInt32BE(context.length);
  return Buffer.concat([Buffer.from(`${LABEL}/response-signature\0`), len, context, enc, ciphertext]);
}

type AttestationCode = Extract<ErrorCode, `HRV_ERR_ATTESTATION_${string}`>;
const isAttestationCode = (c: ErrorCode): c is AttestationCode => c.startsWith('HRV_ERR_ATTESTATION_');

/**
 * Verifies `quote` against each trusted platform key in turn; only a signature mismatch moves on to the next
 * key, so a measurement or nonce failure under a key that did sign is reported as such.
 */
function verifyAgainstAny(
  quote: Quote,
  verify: ProvisionVerifyOptions,
  nonce: Uint8Array,
  whose: string,
): VerifiedQuote {
  let lastSignatureError: AttestationError | undefined;
  for (const platformPublicKey of verify.platformPublicKeys) {
    try {
      return verifyQuoteDetails(quote, {
        platformPublicKey,
        allowedMeasurements: verify.allowedMeasurements,
        allowSoftwareQuotes: verify.allowSoftwareQuotes,
        nonce,
      });
    } catch (err) {
      if (!(err instanceof AttestationError) || !isAttestationCode(err.code)) throw err;
      if (err.code !== 'HRV_ERR_ATTESTATION_SIGNATURE')
        throw new AttestationError(err.code, `${whose} quote: ${err.message}`, { cause: err });
      lastSignatureError = err;
    }
  }
  throw new AttestationError(
    'HRV_ERR_ATTESTATION_SIGNATURE',
    `${whose} quote is not signed by any of the ${verify.platformPublicKeys.length} trusted platform keys`,
    {
      cause: lastSignatureError,
    },
  );
}

/** Starts provisioning inside a new enclave: a request to send out, and the pending state to keep inside. */
export function createProvisionRequest(opts: { platformPrivateKey: Uint8Array; measurement: string }): {
  request: ProvisionRequest;
  pending: PendingProvision;
} {
  const { platformPrivateKey, measurement } = parseLocal(quoterSchema, opts, 'provision request options');
  const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
  const ephemeral = generateHpkeKeyPair();
  // The quote format binds a signing key too; this one signs nothing, so its private half is dropped here.
  const throwaway = generateSigningKeyPair();
  const quote = createQuote(platformPrivateKey, {
    measurement: measurement.toLowerCase(),
    enclavePublicKey: ephemeral.publicKey,
    enclaveSigningKey: throwaway.publicKey,
    nonce,
  });
  return {
    request: { v: 1, kind: 'provision-request', nonce: hex(nonce), quote },
    pending: { nonce, hpkePrivateKey: ephemeral.privateKey, requestQuoteDigest: quoteDigest(quote) },
  };
}

/** Inside a holder enclave: checks a request's quote and answers with the secrets sealed to the requester. */
export function answerProvisionRequest(
  request: unknown,
  opts: {
    secrets: Uint8Array;
    answerer: ProvisionAnswerer;
    platformPrivateKey: Uint8Array;
    measurement: string;
    verify: ProvisionVerifyOptions;
  },
): ProvisionResponse {
  const o = parseLocal(answerSchema, opts, 'provision answer options');
  if (!Buffer.from(signingPublicKeyOf(o.answerer.signingPrivateKey)).equals(o.answerer.signingPublicKey)) {
    // A response signed by a key its quote does not name would be refused by every requester.
    throw new ProvisionError(
      'HRV_ERR_PROVISION_CONFIG',
      'answerer signing private key does not match its public key',
    );
  }
  const req = parseWire(requestSchema, request, 'provision request');
  const nonce = bytes(req.nonce);
  const requester = verifyAgainstAny(req.quote, o.verify, nonce, 'requester');

  const quote = createQuote(o.platformPrivateKey, {
    measurement: o.measurement.toLowerCase(),
    enclavePublicKey: o.answerer.hpkePublicKey,
    enclaveSigningKey: o.answerer.signingPublicKey,
    nonce,
  });
  const context = transcript(nonce, quoteDigest(req.quote), quoteDigest(quote));
  const { enc, ciphertext } = hpkeSeal(requester.enclavePublicKey, context, new Uint8Array(0), o.secrets);
  const signature = signBytes(o.answerer.signingPrivateKey, signedResponseBytes(context, enc, ciphertext));
  return {
    v: 1,
    kind: 'provision-response',
    quote,
    enc: hex(enc),
    ciphertext: hex(ciphertext),
    signature: hex(signature),
  };
}

/**
 * Inside the requesting enclave: checks the answer and returns the secrets with the cluster keys the answerer's
 * quote vouched for (the caller checks the decoded ring's current keys equal `vouched`).
 */
export function acceptProvisionResponse(
  response: unknown,
  pending: PendingProvision,
  verify: ProvisionVerifyOptions,
): { secrets: Uint8Array; vouched: { publicKey: Uint8Array; signingPublicKey: Uint8Array } } {
  const v = parseLocal(verifySchema, verify, 'provision verify options');
  const res = parseWire(responseSchema, response, 'provision response');
  const answerer = verifyAgainstAny(res.quote, v, pending.nonce, 'answerer');

  const context = transcript(pending.nonce, pending.requestQuoteDigest, quoteDigest(res.quote));
  const enc = bytes(res.enc);
  const ciphertext = bytes(res.ciphertext);
  if (
    !verifyBytes(
      answerer.enclaveSigningKey,
      signedResponseBytes(context, enc, ciphertext),
      bytes(res.signature),
    )
  ) {
    throw new ProvisionError(
      'HRV_ERR_PROVISION_SIGNATURE',
      'provision response is not signed by the cluster signing key its quote vouches for',
    );
  }
  let secrets: Uint8Array;
  try {
    secrets = hpkeOpen(pending.hpkePrivateKey, enc, context, new Uint8Array(0), ciphertext);
  } catch (err) {
    if (!(err instanceof HpkeError)) throw err;
    throw new ProvisionError(
      'HRV_ERR_PROVISION_PAYLOAD',
      `provision response's sealed secrets did not open: ${err.message}`,
      { cause: err },
    );
  }
  return {
    secrets,
    vouched: { publicKey: answerer.enclavePublicKey, signingPublicKey: answerer.enclaveSigningKey },
  };
}
