/**
 * The one registry of hrvault's error codes (HRV_ERR_*). Every domain error carries a stable code, a
 * message that names the problem, and the underlying `cause`; the CLI and the HTTP edge map codes to exit
 * statuses and problem+json, nothing deeper does.
 */
import { HRV_ERROR_CODES, HrvError } from './hrv/errors.js';

export const ERROR_CODES = {
  ...HRV_ERROR_CODES,
  HRV_ERR_USAGE: 'bad command-line usage',
  HRV_ERR_FILE: 'a file could not be read or has no usable content',
  HRV_ERR_PARSE: 'a field in an input file could not be parsed',
  HRV_ERR_CONFIG: 'invalid configuration',
  HRV_ERR_HANDSHAKE: 'the CSP–SP key exchange failed (malformed, wrong signer, or failed key confirmation)',
  HRV_ERR_CHANNEL_INTEGRITY: 'a CSP–SP message failed its integrity check',
  HRV_ERR_CHANNEL_REPLAY: 'a CSP–SP message was replayed, reordered or sent under an unknown key',
  HRV_ERR_PAILLIER: 'a Paillier operation was given values outside its range',
  HRV_ERR_RECORD_INTEGRITY: 'a stored record failed its integrity check or its hash chain',
  HRV_ERR_SP_REQUEST: 'the storage provider refused a request',
  HRV_ERR_AUTH: 'authentication failed or the token is not valid',
  HRV_ERR_FORBIDDEN: 'the caller may not do this',
  HRV_ERR_NOT_FOUND: 'no such resource, or the caller may not see it',
  HRV_ERR_THROTTLED: 'too many attempts; try again later',
  HRV_ERR_VALIDATION: 'a request field is invalid',
  HRV_ERR_CONFLICT: 'the request conflicts with stored state',
  HRV_ERR_AUDIT: 'the audit log failed verification',
  HRV_ERR_HPKE: 'an HPKE operation failed (bad key, malformed encapsulation, or the ciphertext did not open)',
  HRV_ERR_RAW_KEY: 'a raw X25519/Ed25519 key has the wrong length, is not a valid point, or is badly encoded',
  HRV_ERR_ENVELOPE_MALFORMED: 'a sealed file is malformed (bad magic, version, lengths or header)',
  HRV_ERR_ENVELOPE_TRUNCATED: 'a sealed file is shorter than its framing says',
  HRV_ERR_ENVELOPE_INTEGRITY: 'a sealed file failed its integrity check (tampered, or sealed to another key)',
  HRV_ERR_ENVELOPE_SIGNATURE: 'a sealed file has a missing or invalid sender signature, or an unknown sender',
  HRV_ERR_ENVELOPE_EPOCH: 'a sealed file names an epoch the reader does not hold, or one that is not its sender\'s or not sealed to the key its header names',
  HRV_ERR_ENVELOPE_CONTENT: 'a sealed file opened but its content is invalid or disagrees with its header',
  HRV_ERR_ATTESTATION_MALFORMED: 'an attestation quote is malformed',
  HRV_ERR_ATTESTATION_UNSUPPORTED: 'an attestation quote comes from a backend this verifier does not accept',
  HRV_ERR_ATTESTATION_SIGNATURE: 'an attestation quote is not signed by the pinned platform key',
  HRV_ERR_ATTESTATION_MEASUREMENT: 'an attestation quote reports a measurement not on the allow-list',
  HRV_ERR_ATTESTATION_NONCE: 'an attestation quote does not answer this verifier nonce',
  HRV_ERR_PROVISION_MALFORMED: 'a cluster-secrets provisioning request or response is malformed (the field is named)',
  HRV_ERR_PROVISION_SIGNATURE: 'a cluster-secrets provisioning response is not signed by the cluster signing key its quote vouches for',
  HRV_ERR_PROVISION_PAYLOAD: 'the sealed cluster secrets in a provisioning response did not open (tampered, or sealed to another request)',
  HRV_ERR_PROVISION_CONFIG: 'the local inputs to a provisioning step are invalid (no trusted platform key, bad key lengths, a key pair that does not match)',
  HRV_ERR_SOFTWARE_QUOTES_IN_PRODUCTION: 'software-backend attestation quotes were enabled in a production configuration without the explicit override',
  HRV_ERR_SEQUENCE_REPLAY: 'a batch file repeats or precedes a sequence number already accepted',
  HRV_ERR_SEALING: 'sealed enclave state could not be read or written',
  HRV_ERR_KEY_RETIRED: 'a sealed file is sealed to an enclave key retired beyond its retention (the gateway must re-attest)',
  HRV_ERR_ENCLAVE: 'the enclave process failed or answered out of protocol',
  HRV_ERR_ENCLAVE_STATE_HELD: 'another live enclave process holds this sealed state (the orphan of a host that died?)',
  HRV_ERR_SFTP_PATH: 'an SFTP path is outside the caller\'s inbox/outbox or not an allowed file name',
  HRV_ERR_SFTP_SIZE: 'an SFTP upload exceeds the size limit',
  HRV_ERR_SFTP_AUTH: 'an SFTP login was refused',
  HRV_ERR_SFTP_LIMIT: 'an SFTP connection, login, session or handle was refused or ended by a resource limit or timeout',
  HRV_ERR_BEAT_PAYLOAD: 'an MQTT beat message is malformed (not JSON, wrong version or fields)',
  HRV_ERR_BEAT_VALUE: 'an MQTT beat message carries impossible values (RR interval, time or sequence number)',
  HRV_ERR_UNKNOWN_DEVICE: 'an MQTT beat message came from an unknown device or names another device\'s patient',
  HRV_ERR_SPOOL: 'the gateway spool could not be written or read back',
  HRV_ERR_UPLOAD: 'a batch upload or result download over SFTP failed',
  HRV_ERR_RESULT: 'a result file from the enclave failed verification',
  HRV_ERR_ENCLAVE_ROLLBACK: 'a result comes from an enclave state the host rolled back (a commit number repeated under another id, far behind, or a batch analysed twice)',
  HRV_ERR_CONTRACT: 'data that crossed a component boundary does not have the declared shape',
  HRV_ERR_DEVICE: 'a device (gateway) credential was refused, revoked, or used beyond its rights',
  HRV_ERR_FAILPOINT: 'an armed test failpoint fired (fault-injection tests only)',
  HRV_ERR_GRANT_SELF_APPROVAL: 'an admin tried to approve a grant they requested, or one about their own account',
  HRV_ERR_GRANT_STATE: 'the grant is not pending (already approved or rejected)',
  HRV_ERR_UNKNOWN_REFERENCE: 'a request names ids (patients, users) that do not exist',
  HRV_ERR_JSON_DEPTH: 'a JSON request body nests deeper than the API allows',
  HRV_ERR_SP_ROLLBACK: 'the storage provider served an entry older than the CSP last stored or saw (a rollback); refused',
  HRV_ERR_AGGREGATE_INTEGRITY: 'an aggregate from the storage provider failed its MAC check (tampered, incomplete or replayed); aggregates are suspended',
  HRV_ERR_AGGREGATES_SUSPENDED: 'aggregates are suspended after the storage provider forged one, until an admin resumes them',
  HRV_ERR_PARTITION: 'a file\'s patient does not belong to the partition it was handed in for, or the partition is not open in this enclave',
  HRV_ERR_JETSTREAM_UNANSWERED: 'a JetStream request went unanswered past its deadline (a stream or consumer without a leader, a node lost)',
  HRV_ERR_JETSTREAM_LEFTOVER: 'streams of a deployment being removed were still on the server after it deleted them (something still creates them)',
  HRV_ERR_LEASE_LOST: 'a partition lease was taken over, expired or could not be confirmed; its holder may no longer commit',
  HRV_ERR_SCHEMA_NEWER: 'the database schema was written by a newer release than this one (its version is unknown to this code); refusing to start',
  HRV_ERR_SCHEMA_DRIFT: 'the schema migrations recorded in the database differ from this code\'s (a released migration was edited or removed); refusing to start',
  HRV_ERR_MIGRATION_LIST: 'a component\'s list of schema migrations is malformed (versions not 1, 2, 3… in order, or an empty name or statement)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Base of every hrvault domain error outside the pure HRV core. */
export class HrvaultError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HrvaultError';
    this.code = code;
  }
}

/** An input-file problem: names the file and, where known, the 1-based line. */
export class InputFileError extends HrvaultError {
  readonly file: string;
  readonly line: number | undefined;
  constructor(
    code: 'HRV_ERR_FILE' | 'HRV_ERR_PARSE',
    file: string,
    line: number | undefined,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${file}${line === undefined ? '' : `:${line}`}: ${problem}`, options);
    this.name = 'InputFileError';
    this.file = file;
    this.line = line;
  }
}

/** Configuration rejected at start-up. */
export class ConfigError extends HrvaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HRV_ERR_CONFIG', message, options);
    this.name = 'ConfigError';
  }
}

export { HrvError };

/** True for errors whose message is meant for the user (no stack trace needed). */
export function isDomainError(err: unknown): err is HrvaultError | HrvError {
  return err instanceof HrvaultError || err instanceof HrvError;
}
