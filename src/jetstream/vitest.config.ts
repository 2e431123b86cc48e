import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * `npm run test:cluster`: tests on a three-node nats-server cluster that they start and kill
 * (`src/jetstream/*.cluster.test.ts`), apart from `npm test`, whose projects exclude them; `.ci/run` runs them after
 * the fault suite. One file at a time: each starts its own cluster, and two clusters on two cores slow elections.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../../', import.meta.url)),
  test: {
    name: 'cluster',
    include: ['src/jetstream/*.cluster.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
