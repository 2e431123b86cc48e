import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * `npm run test:faults`: the fault-injection scenarios (`src/faults/*.faults.test.ts`), apart from `npm test`
 * (whose projects exclude them). Two files at a time: each scenario runs a whole pipeline of processes that
 * mostly waits (timers, fdatasync, network), so two overlap well on 2 cores, and one at a time took over 15 minutes
 * once the suite had 20 scenarios. Every wait is on a signal with a "nothing moves any more" deadline, never on
 * a duration, so a slower scenario is not a failing one. `HRVAULT_FAULTS_WORKERS=1` runs them one by one.
 * The timeout is a deadline for a stuck scenario, not an expected duration: each waits on its own signals. 600 s:
 * access-kill took 311 s once on 2 cores at load 25 (three suites and four other test runs at once) and hit 300 s.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../../', import.meta.url)),
  test: {
    name: 'faults',
    include: ['src/faults/*.faults.test.ts'],
    pool: 'forks',
    maxWorkers: Number(process.env.HRVAULT_FAULTS_WORKERS ?? 2),
    fileParallelism: true,
    testTimeout: 600_000,
    hookTimeout: 120_000,
  },
});
