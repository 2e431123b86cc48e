/** The shared words now live in src/contracts; re-exported for the access component's own modules. */
export * from '../contracts/index.js';
