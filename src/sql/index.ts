/** SQL on two engines (embedded PGlite, or a PostgreSQL server): the store under the CSP and the SP. */
export * from './sql.js';
