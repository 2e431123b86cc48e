import { describe, it } from 'vitest';
import { openSqlDb } from '../access/sql.js';
import { accessMatrixSuite } from './test-support/matrix-suite.js';

const PG_URL = process.env.HRVAULT_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
let reachable = false;
try {
  await (await openSqlDb(PG_URL)).close();
  reachable = true;
} catch (err) {
  console.log(`skipped: PostgreSQL not reachable at ${PG_URL} (${err instanceof Error ? err.message : String(err)})`);
}

if (reachable) accessMatrixSuite('PostgreSQL', PG_URL);
else describe.skip('access matrix (PostgreSQL)', () => it('needs PostgreSQL', () => undefined));
