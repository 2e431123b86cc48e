/** The access service's domain errors; the HTTP edge maps each code to a status and problem+json. */
import { HrvaultError } from '../errors.js';

/** 401: bad credentials, or a token that is missing, expired, forged or of the wrong kind. */
export class AuthError extends HrvaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HRV_ERR_AUTH', message, options);
    this.name = 'AuthError';
  }
}

/** 403: the caller is known but its role does not allow this. */
export class ForbiddenError extends HrvaultError {
  constructor(message: string) {
    super('HRV_ERR_FORBIDDEN', message);
    this.name = 'ForbiddenError';
  }
}

/** 404: no such resource, or one the caller may not see (the two are not told apart). */
export class NotFoundError extends HrvaultError {
  constructor(message = 'not found') {
    super('HRV_ERR_NOT_FOUND', message);
    this.name = 'NotFoundError';
  }
}

/** 429: too many failed attempts. */
export class ThrottledError extends HrvaultError {
  readonly retryAfterS: number;
  constructor(message: string, retryAfterS: number) {
    super('HRV_ERR_THROTTLED', message);
    this.name = 'ThrottledError';
    this.retryAfterS = retryAfterS;
  }
}

/** 400: a field is invalid; `field` names it. */
export class ValidationError extends HrvaultError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('HRV_ERR_VALIDATION', `${field}: ${message}`);
    this.name = 'ValidationError';
    this.field = field;
  }
}

/** 409: e.g. a username that already exists. */
export class ConflictError extends HrvaultError {
  constructor(message: string) {
    super('HRV_ERR_CONFLICT', message);
    this.name = 'ConflictError';
  }
}

/** 422: a well-formed request names ids that do not exist; `field` says where, `ids` which. */
export class UnknownReferenceError extends HrvaultError {
  readonly field: string;
  readonly ids: string[];
  constructor(field: string, what: string, ids: string[]) {
    super('HRV_ERR_UNKNOWN_REFERENCE', `${field}: unknown ${what}: ${ids.join(', ')}`);
    this.name = 'UnknownReferenceError';
    this.field = field;
    this.ids = ids;
  }
}

/** 403: the two-person rule: an admin may not approve their own grant, nor one about their own account. */
export class SelfApprovalError extends HrvaultError {
  constructor(message: string) {
    super('HRV_ERR_GRANT_SELF_APPROVAL', message);
    this.name = 'SelfApprovalError';
  }
}

/** 409: the grant was already decided. */
export class GrantStateError extends HrvaultError {
  constructor(message: string) {
    super('HRV_ERR_GRANT_STATE', message);
    this.name = 'GrantStateError';
  }
}
