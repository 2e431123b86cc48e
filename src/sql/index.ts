/** SQL on two engines (embedded PGlite, or a PostgreSQL server): the store under the CSP and the SP, and its schema migrations. */
export * from './migrations.js';
export * from './sql.js';
