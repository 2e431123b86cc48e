import { configDefaults, defineConfig } from 'vitest/config';
import { INT_GLOBS, INT_PENDING_RENAME } from './scripts/test-projects.mjs';

/**
 * Two projects, run one after the other (sequence.groupOrder):
 * - `unit`: `x.test.ts` beside `x.ts`, in-process and CPU-bound; as many workers as the machine has.
 * - `int`: `x.int.test.ts`, tests that need a real service (PostgreSQL, Mosquitto, Chromium) or spawn
 *   processes (the CLI, the enclave). They wait on readiness signals with their own deadlines and run after
 *   the unit tests: on a 2-core machine with a core kept busy by something else, running them beside CPU-heavy
 *   unit files is what made them time out. Two int files at a time (as the fault suite runs): they mostly wait
 *   on processes, timers and fsync, so two overlap well (the project took 536 s one at a time, 316 s two at a
 *   time on this 2-core machine); each uses its own ports, directories, streams and databases.
 *   `HRVAULT_INT_WORKERS=1` runs them one by one.
 * The file lists are in scripts/test-projects.mjs (scripts/run-tests.mjs reports each project's time).
 */
const INT = [...INT_GLOBS, ...INT_PENDING_RENAME];

export default defineConfig({
  test: {
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'scripts/**/*.test.ts'],
          // src/faults/*.faults.test.ts run in their own config (npm run test:faults), src/jetstream/*.cluster.test.ts
          // in theirs (npm run test:cluster).
          exclude: [...configDefaults.exclude, ...INT, 'src/faults/*.faults.test.ts', 'src/jetstream/*.cluster.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'int',
          include: INT,
          // A deadline, not an expected duration: each test waits on its own readiness signals and
          // fails with its own message well before this when something is stuck.
          testTimeout: 180_000,
          hookTimeout: 120_000,
          maxWorkers: Number(process.env.HRVAULT_INT_WORKERS ?? 2),
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
