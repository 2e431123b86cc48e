/**
 * The storage provider (SP): untrusted storage of ciphertext, append-only per patient, with Paillier sums for
 * aggregates; reached only through the protocol in src/protocol. Other components use it only through this file.
 */
export * from './runtime.js';
export * from './sp-http.js';
export * from './sp-service.js';
