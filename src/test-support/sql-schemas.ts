/** An embedded database shared by one test file, with an empty schema of its own for every test. */
import { afterAll, beforeAll } from 'vitest';
import { openSqlDb, type SqlDb } from '../sql/index.js';

/**
 * Registers the file's hooks and returns `fresh()`: the shared PGlite database (one per file, since each takes
 * seconds to start) with its search path set to a new, empty schema. Tests in a file run one after the other,
 * so each sees only its own tables.
 */
export function schemaPerTest(): () => Promise<SqlDb> {
  let db: SqlDb | undefined;
  let schemas = 0;
  beforeAll(async () => {
    db = await openSqlDb('memory:');
  });
  afterAll(async () => {
    await db?.close();
  });
  return async () => {
    if (!db) throw new Error('schemaPerTest: fresh() called outside a test');
    schemas += 1;
    await db.exec(`CREATE SCHEMA t${schemas}; SET search_path TO t${schemas}`);
    return db;
  };
}
