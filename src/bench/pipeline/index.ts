/**
 * `hrvault bench`: the pipeline benchmark harness (issue 10). Client and load scalability of the real pipeline —
 * SFTP ingress, micro-batch scheduler, enclave process, results back to the gateway — secure against plain, with
 * a server child and a load-generator child pinned to different cores.
 */
export { runPoint, summarise, type PointSpec, type PointResult } from './point.js';
export { hasTaskset } from './children.js';
export { mean, percentile, slope, backlogGrows, isStable } from './stats.js';
