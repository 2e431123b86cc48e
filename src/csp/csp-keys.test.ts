import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCspKeys, loadCspKeys, saveCspKeys } from './csp-keys.js';

describe('CSP key file: the aggregate MAC key', () => {
  it('is saved and loaded with the other keys, and a key file from before it gets a fixed key of its own, not the audit key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hrv-keys-'));
    try {
      const keys = await generateCspKeys('csp', 512);
      const path = join(dir, 'keys.json');
      await saveCspKeys(path, keys);
      expect((await loadCspKeys(path)).aggregateMacKey.equals(keys.aggregateMacKey)).toBe(true);
      const old = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
      delete old.aggregate_mac_key;
      await writeFile(path, JSON.stringify(old));
      const a = await loadCspKeys(path);
      const b = await loadCspKeys(path);
      expect(a.aggregateMacKey).toHaveLength(32);
      expect(a.aggregateMacKey.equals(b.aggregateMacKey)).toBe(true);
      expect(a.aggregateMacKey.equals(a.auditKey)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
