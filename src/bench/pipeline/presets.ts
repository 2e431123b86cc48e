/** Default and `--quick` settings of the two sweeps, in one place (the command and `npm run bench` share them). */
import type { BenchOptions } from './options.js';

/** What `hrvault bench clients|load` measures when an option is not given. */
export const DEFAULTS = {
  clients: { clients: [100, 1000, 5000, 10_000, 20_000], rates: [1], batchIntervalS: 10, durationS: 300 },
  // A result carries its batch's beats and the result contract caps them at 100,000 (src/contracts/hrv-result.ts):
  // at 10-s batches one client's rate stays below 10,000 beats/s, so the sweep's top rate is just under it.
  load: { clients: [1, 10], rates: [10, 100, 1000, 5000, 9500], batchIntervalS: 10, durationS: 300 },
} as const;

/** `--quick`: two small points per mode, 1-s batches, 3 s each: the harness end to end in well under a minute. */
export const QUICK = {
  clients: { clients: [10, 40], rates: [1], batchIntervalS: 1, durationS: 3 },
  load: { clients: [1], rates: [20, 200], batchIntervalS: 1, durationS: 3 },
} as const;

/**
 * `--quick --jetstream`: one small point per worker count (each starts its workers' enclaves and bootstraps the
 * cluster's secrets, which the embedded mode does not), so that the quick run stays within about a minute.
 */
export const QUICK_JETSTREAM = { clients: [20], rates: [1], batchIntervalS: 1, durationS: 3 } as const;

/** Assembles a sweep's options: given values win, then `--quick`'s, then the defaults. */
export function assemble(kind: 'clients' | 'load', given: Partial<Omit<BenchOptions, 'kind'>> & { quick: boolean }): Record<string, unknown> {
  const base = given.quick ? (given.jetstream !== undefined && kind === 'clients' ? QUICK_JETSTREAM : QUICK[kind]) : DEFAULTS[kind];
  return {
    kind,
    // JetStream mode is secure mode: the default is the one mode it runs (another fails validation).
    modes: given.jetstream === undefined ? ['secure', 'plain'] : ['secure'],
    search: false,
    json: false,
    serverCpus: '0',
    clientCpus: '1',
    clientsPerGateway: 250,
    outDir: 'bench-results',
    ...(given.jetstream === undefined ? {} : { workers: [1] }),
    ...base,
    clients: [...base.clients],
    rates: [...base.rates],
    ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)),
  };
}
