import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * `npm run test:cluster`: tests on a three-node nats-server cluster that they start and kill
 * (`src/jetstream/*.cluster.test.ts`), apart from `npm test`, whose projects exclude them. Not yet in .ci/run:
 * on a loaded 2-core machine a SIGKILLed node's failover took up to ~20 s and the failover test failed 2 runs in
 * about 10 (a bucket's stream leader not elected within the test's deadline); and this machine's nats-server
 * (2.9.10) cannot fence a replicated lease bucket (nats-io/nats-server#4320, fixed in 2.9.21), so the racing
 * test runs only on a standalone server here. Both are issue 11's to settle before its suite joins CI.
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
