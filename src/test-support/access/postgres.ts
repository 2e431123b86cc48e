/** The PostgreSQL the integration tests use, and whether it answers (printing why it is skipped if not). */
import { openSqlDb } from '../../sql/index.js';

export const PG_URL = process.env.HRVAULT_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** True when PostgreSQL at PG_URL accepts a connection; otherwise prints the skip reason. */
export async function postgresReachable(): Promise<boolean> {
  try {
    await (await openSqlDb(PG_URL)).close();
    return true;
  } catch (err) {
    console.log(
      `skipped: PostgreSQL not reachable at ${PG_URL} (${err instanceof Error ? err.message : String(err)})`,
    );
    return false;
  }
}
