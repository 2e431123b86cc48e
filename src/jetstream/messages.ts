/**
 * What crosses NATS between the host (`hrvault cloud --jetstream`) and the enclave workers (`hrvault worker`),
 * declared once: subjects, message headers and their schemas. Everything read from NATS is validated here
 * before it is used: the servers are as untrusted as the host.
 *
 * - **Work** (`<prefix>.work.<p>`, stream `<prefix>_work`, see work.ts): one arrived file; body = the sealed
 *   file's bytes as uploaded; headers name the gateway whose inbox it came from and its file name. Message id
 *   = `<gateway>/<name>/<input tag>`.
 * - **Results** (`<prefix>.results.<gateway>`, stream `<prefix>_results`): one sealed result for the gateway's
 *   outbox; body = the sealed result; headers name the input it answers and carry the fencing token of the
 *   commit that made it. Message id = `<gateway>/<result name>`: a result published again (a worker that
 *   died after its commit, before acknowledging its work) is dropped by the duplicate window; past the window
 *   it is the same bytes again, which the gateway already tolerates (a result bundle may repeat a name).
 * - **Refusals** (`<prefix>.refusals.<gateway>`, same stream): a file the enclave refused, with its code and a
 *   reason that quotes no values; JSON body.
 * - **Attestation** (`<prefix>.attest`, request/reply to any worker): body = the gateway's nonce; reply = the
 *   quote as JSON, or an error.
 * - **Provisioning** (`<prefix>.provision`, request/reply to any worker that holds the cluster's keys): see
 *   src/enclave/provisioning.ts.
 */
import { z } from 'zod';
import { FILE_NAME, parseContract, WIRE_ID } from '../contracts/index.js';
import { ERROR_CODES, HrvaultError, type ErrorCode } from '../errors.js';

/** Header: the gateway whose inbox a work file came from, or whose outbox a result goes to. */
export const H_GATEWAY = 'Hrv-Gateway';
/** Header: the work file's name in the inbox. */
export const H_FILE = 'Hrv-File';
/** Header: a result's file name (`<pseudonym>-<seq>.result`). */
export const H_RESULT = 'Hrv-Result';
/** Header: the patient and sequence number a result answers (for the host's acknowledgement bookkeeping). */
export const H_PATIENT = 'Hrv-Patient';
export const H_SEQ = 'Hrv-Seq';
/** Header: the fencing token (lease revision) of the commit a result or refusal came from. */
export const H_TOKEN = 'Hrv-Token';

const gatewayId = z.string().regex(WIRE_ID, 'gateway id must be 1–64 of [A-Za-z0-9_-]');
/** A file name as the SFTP layer accepts it: no path separators. */
const fileName = z
  .string()
  .regex(FILE_NAME, 'file name must be 1–128 of [A-Za-z0-9._-], not starting with . - or _');
const errorCode = z.string().refine((c): c is ErrorCode => c in ERROR_CODES, 'unknown error code');

/** The headers of a work message. */
export const workHeadersSchema = z.strictObject({ gateway: gatewayId, file: fileName });
export type WorkHeaders = z.infer<typeof workHeadersSchema>;

/** The headers of a result message. */
export const resultHeadersSchema = z.strictObject({
  gateway: gatewayId,
  result: fileName,
  patient: z.string().regex(WIRE_ID, 'patient pseudonym must be 1–64 of [A-Za-z0-9_-]'),
  seq: z.number().int().min(0),
  token: z.number().int().min(1),
});
export type ResultHeaders = z.infer<typeof resultHeadersSchema>;

/** The body of a refusal message. */
export const refusalSchema = z.strictObject({
  gateway: gatewayId,
  file: fileName,
  code: errorCode,
  reason: z.string().max(2000),
  token: z.number().int().min(1),
});
export type Refusal = z.infer<typeof refusalSchema>;

/** Subjects and stream names of one deployment (`prefix` as in work.ts). */
export function subjects(prefix: string): {
  results: (gateway: string) => string;
  refusals: (gateway: string) => string;
  resultsAll: string;
  /** The results stream's subjects: every gateway's results and refusals (and nothing else of the prefix). */
  resultsStreamSubjects: string[];
  attest: string;
  provision: string;
  resultsStream: string;
  stateStream: string;
  leasesBucket: string;
  workersBucket: string;
} {
  return {
    results: (gw) => `${prefix}.results.${gatewayId.parse(gw)}`,
    refusals: (gw) => `${prefix}.refusals.${gatewayId.parse(gw)}`,
    resultsAll: `${prefix}.>`,
    // Not `resultsAll`: a stream on `<prefix>.>` would overlap the work stream and capture the attestation requests.
    resultsStreamSubjects: [`${prefix}.results.*`, `${prefix}.refusals.*`],
    attest: `${prefix}.attest`,
    provision: `${prefix}.provision`,
    resultsStream: `${prefix}_results`,
    stateStream: `${prefix}_state`,
    leasesBucket: `${prefix}_leases`,
    workersBucket: `${prefix}_workers`,
  };
}

/** Minimal view of NATS message headers (the transport's MsgHdrs satisfies it). */
export interface HeaderReader {
  get(name: string): string;
}

/** The work headers of a message, validated. */
export function readWorkHeaders(h: HeaderReader | undefined): WorkHeaders {
  return parseContract('work message headers', workHeadersSchema, {
    gateway: h?.get(H_GATEWAY),
    file: h?.get(H_FILE),
  });
}

/** The result headers of a message, validated. */
export function readResultHeaders(h: HeaderReader | undefined): ResultHeaders {
  const num = (s: string | undefined): number | undefined =>
    s === undefined || s === '' || !/^\d{1,15}$/.test(s) ? undefined : Number(s);
  return parseContract('result message headers', resultHeadersSchema, {
    gateway: h?.get(H_GATEWAY),
    result: h?.get(H_RESULT),
    patient: h?.get(H_PATIENT),
    seq: num(h?.get(H_SEQ)),
    token: num(h?.get(H_TOKEN)),
  });
}

/** Parses `schema` from a UTF-8 JSON body or throws HRV_ERR_CONTRACT naming `what`. */
export function parseJsonContract<T>(schema: z.ZodType<T>, data: Uint8Array, what: string): T {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (err) {
    throw new HrvaultError(
      'HRV_ERR_CONTRACT',
      `${what}: not JSON: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
  return parseContract(what, schema, doc);
}

/** The body of a refusal message, validated. */
export function readRefusal(data: Uint8Array): Refusal {
  return parseJsonContract(refusalSchema, data, 'refusal message');
}

/**
 * A worker's reply to an attestation request: the quote (checked here only for its version and the nonce it answers;
 * the gateway verifies it in full), or an error with a registered code and a reason that quotes no values.
 */
export const attestReplySchema = z.union([
  z.strictObject({ error: z.strictObject({ code: errorCode, message: z.string().max(2000) }) }),
  z.looseObject({
    v: z.literal(1),
    nonce: z.string().regex(/^(?:[0-9a-f]{2}){16,64}$/, 'must be 16–64 bytes of lowercase hex'),
  }),
]);
export type AttestReply = z.infer<typeof attestReplySchema>;

/** An attestation reply's body, validated. */
export function readAttestReply(data: Uint8Array): AttestReply {
  return parseJsonContract(attestReplySchema, data, 'attestation reply');
}
