// Which test files form the `int` vitest project (vitest.config.ts), shared with scripts/run-tests.mjs so
// its per-project wall times count the same files.

/** Service-backed, CLI and process tests: `x.int.test.ts` by convention. */
export const INT_GLOBS = ['src/**/*.int.test.ts', 'scripts/**/*.int.test.ts'];

/**
 * Tests that start real services or processes but are still named `x.test.ts` (their folders' owners rename
 * them; an entry that no longer exists matches nothing). Each opens embedded PostgreSQL (PGlite) databases,
 * spawns the enclave child process or runs a broker or server on loopback: tens of seconds on a loaded
 * machine, where the unit project's 60 s deadline made them fail.
 */
export const INT_PENDING_RENAME = [
  'src/api/stack.test.ts', // two PGlite databases, HTTP
  'src/sp/sp-http.test.ts', // PGlite, HTTP
  'src/csp/csp-service.test.ts', // PGlite through the access harness
  'src/web/api.test.ts', // the whole access stack
  'src/cloud/cloud.test.ts', // the enclave child process, SFTP on loopback
  'src/enclave/client.test.ts', // the enclave child process
  'src/gateway/intake.test.ts', // MQTT broker on loopback
];

/** True when `file` (relative to the repository root) belongs to the int project. */
export function isIntTest(file) {
  return /\.int\.test\.[cm]?[jt]sx?$/.test(file) || INT_PENDING_RENAME.includes(file);
}
