/** The benchmarks' one door for other components: the pipeline harness behind `hrvault bench` (suites run from main.ts). */
export * from './pipeline/index.js';
