import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * `npm run test:cluster`: tests on a three-node nats-server cluster that they start and kill
 * (`src/jetstream/*.cluster.test.ts`), apart from `npm test`, whose projects exclude them. The racing lease tests
 * run 100 rounds each on a standalone server and on the R3 cluster (lease writes are atomic on this machine's
 * 2.9.10 too: see src/jetstream/lease.ts). The failover test waits for the new stream leader through the nodes'
 * monitoring ports (a leaderless stream answers no JetStream request, so polling STREAM.INFO cost a 5 s timeout
 * per try) and its lease operations time out after 2 s and retry; the SIGKILL-to-new-leader time is the Raft
 * election, 4-9 s here, and the test prints it. What failed under load was opening a new R3 bucket from several
 * connections at once (2.9.10 left one request unanswered); openLeaseBucket now retries, and a test covers it.
 * Not yet in .ci/run: that is the integrator's call.
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
