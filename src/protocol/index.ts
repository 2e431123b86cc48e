/**
 * The CSP–SP protocol: the wire messages (Protocol I Phase IV, Protocol II), the per-patient hash chain both
 * ends compute, the CSP's end of the keyed link, and the transports that carry it (in process or HTTP).
 */
export * from './chain.js';
export * from './csp-link.js';
export * from './sp-protocol.js';
export * from './transport.js';
