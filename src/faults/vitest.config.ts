import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * `npm run test:faults`: the fault-injection scenarios (`src/faults/*.faults.test.ts`), apart from `npm test`
 * (whose projects exclude them). One file at a time and one worker: each scenario runs a whole pipeline of
 * processes and kills parts of it, and two at once on a 2-core machine would starve each other.
 * The timeout is a deadline for a stuck scenario, not an expected duration: each waits on its own signals.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../../', import.meta.url)),
  test: {
    name: 'faults',
    include: ['src/faults/*.faults.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
