/**
 * The software backend's code measurement: SHA-256 over the enclave's code bundle — every non-test source
 * file of src/enclave, src/crypto, src/hrv and src/failpoints plus src/errors.ts (tests, fixtures and the benchmark excluded) (or their compiled .js in dist/), by
 * relative path and content. Under SGX the hardware's MRENCLAVE replaces this.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// failpoints: main.ts marks its commit boundaries with it, so it is code the enclave process loads.
const BUNDLE_DIRS = ['enclave', 'crypto', 'hrv', 'failpoints'];

/** The source root (src/ or dist/) this module was loaded from, and the file extension of its code. */
export function codeRoot(): { root: string; ext: '.ts' | '.js' } {
  const self = fileURLToPath(import.meta.url);
  return { root: dirname(dirname(self)), ext: self.endsWith('.ts') ? '.ts' : '.js' };
}

/** SHA-256 (hex) of the enclave code bundle under `root` with extension `ext`. */
export function computeMeasurement(root = codeRoot().root, ext = codeRoot().ext): string {
  const files: string[] = [];
  for (const d of BUNDLE_DIRS) {
    const dir = join(root, d);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) {
      // Only code the enclave process loads: not tests, fixtures or the benchmark.
      if (f.endsWith(ext) && !f.includes('.test.') && !f.endsWith('.d.ts') && !f.startsWith('test-helpers') && !f.includes('bench')) files.push(`${d}/${f}`);
    }
  }
  files.push(`errors${ext}`);
  const h = createHash('sha256');
  for (const rel of files) {
    const content = readFileSync(join(root, rel));
    h.update(`${rel}\0${content.length}\0`).update(content);
  }
  return h.digest('hex');
}
