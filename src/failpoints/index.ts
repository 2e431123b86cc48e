/** Failpoints at commit boundaries, armed only by the fault-injection tests. */
export * from './failpoints.js';
