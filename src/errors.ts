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
