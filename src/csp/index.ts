/**
 * The cloud service provider (CSP): users, roles and policy, records sealed before they leave, aggregates,
 * devices and the audit log. It reaches the SP only through src/protocol. Other components use it only
 * through this file.
 */
export * from './audit.js';
export * from './csp-keys.js';
export * from './csp-service.js';
export * from './demo-users.js';
export * from './devices.js';
export * from './errors.js';
export * from './grants.js';
export * from './policy.js';
export * from './runtime.js';
export { ACCESS_TOKEN_TTL_S, REFRESH_TOKEN_TTL_S, signAccessToken } from './tokens.js';
export * from './users.js';
export * from './freshness.js';
export { AggregateIntegrityError, AggregateMac, AggregatesSuspendedError } from './aggregates.js';
export { blindIndex } from './record-crypto.js';
