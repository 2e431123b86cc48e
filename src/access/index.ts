/**
 * The access side: the CSP (users, roles and policy, records, aggregates, devices, audit), the SP it talks to
 * (ciphertext store) and the channel between them. Other components use it only through this file.
 */
export * from './audit.js';
export * from './csp-keys.js';
export * from './csp-service.js';
export * from './demo-users.js';
export * from './devices.js';
export * from './errors.js';
export * from './policy.js';
export * from './runtime.js';
export * from './sp-http.js';
export * from './sp-service.js';
export * from './sql.js';
export { ACCESS_TOKEN_TTL_S, REFRESH_TOKEN_TTL_S, signAccessToken } from './tokens.js';
export * from './transport.js';
export * from './users.js';
