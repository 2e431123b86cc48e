/**
 * Reads what the host has put in a gateway's outbox, bundles split: for operators and tests that look at the host's
 * side (the gateway itself fetches over SFTP and judges every result, gateway.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLED_RESULT_NAME, RESULT_BUNDLE_NAME, splitResultBundle } from '../contracts/index.js';
import { HrvaultError } from '../errors.js';

/** Result files in `outboxDir` by name (from bundles and loose `.result` files); throws on a malformed bundle. */
export function readOutboxResults(outboxDir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const n of readdirSync(outboxDir).sort()) {
    if (BUNDLED_RESULT_NAME.test(n)) out.set(n, readFileSync(join(outboxDir, n)));
    else if (RESULT_BUNDLE_NAME.test(n)) {
      const split = splitResultBundle(readFileSync(join(outboxDir, n)));
      if (split.fault !== undefined) throw new HrvaultError('HRV_ERR_RESULT', `bundle ${n}: ${split.fault}`);
      for (const e of split.entries) out.set(e.name, Buffer.from(e.bytes));
    }
  }
  return out;
}

/** Names of the result bundles in `outboxDir`, sorted. */
export function outboxBundles(outboxDir: string): string[] {
  return readdirSync(outboxDir).filter((n) => RESULT_BUNDLE_NAME.test(n)).sort();
}
