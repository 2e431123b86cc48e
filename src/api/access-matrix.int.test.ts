import { describe, it } from 'vitest';
import { PG_URL, postgresReachable } from '../test-support/access/postgres.js';
import { accessMatrixSuite } from './test-support/matrix-suite.js';

const reachable = await postgresReachable();

if (reachable) accessMatrixSuite('PostgreSQL', PG_URL);
else describe.skip('access matrix (PostgreSQL)', () => it('needs PostgreSQL', () => undefined));
