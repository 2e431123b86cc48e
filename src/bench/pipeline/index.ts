/**
 * `hrvault bench`: the pipeline benchmark harness (issue 10). Client and load scalability of the real pipeline —
 * SFTP ingress, micro-batch scheduler, enclave process, results back to the gateway — secure against plain, with
 * a server child and a load-generator child pinned to different cores.
 */
export { runPoint, summarise, type PointSpec, type PointResult } from './point.js';
export { runSweep } from './sweep.js';
export { searchLargestStable, type SearchResult } from './search.js';
export { hasTaskset } from './children.js';
export { mean, percentile, slope, backlogGrows, isStable } from './stats.js';
export { validateBenchOptions, parseList, parseTarget, readTargetFile, type BenchOptions } from './options.js';
export { assemble, DEFAULTS, QUICK } from './presets.js';
export { writeRun, toCsv, formatPoints, type BenchRun, type PipelineBench } from './output.js';
export { readRuns, writeReport, largestStable, ORIGINAL } from './report.js';
export { microSection, readMicroResults, MICRO_COMMAND, SEALING_TARGET_RATIO, type MicroResults } from './report-micro.js';
export { serveForTargets, type ServeOptions } from './serve.js';
export { machineInfo, type MachineInfo } from './machine.js';
