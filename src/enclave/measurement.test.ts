import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeMeasurement } from './measurement.js';

describe('computeMeasurement', () => {
  it('changes when enclave code changes, not when tests change', () => {
    const root = mkdtempSync(join(tmpdir(), 'measure-'));
    try {
      for (const d of ['enclave', 'crypto', 'hrv']) mkdirSync(join(root, d));
      writeFileSync(join(root, 'errors.ts'), 'export {};');
      writeFileSync(join(root, 'enclave', 'main.ts'), 'a');
      const m1 = computeMeasurement(root, '.ts');
      expect(m1).toMatch(/^[0-9a-f]{64}$/);
      writeFileSync(join(root, 'enclave', 'main.test.ts'), 'test');
      expect(computeMeasurement(root, '.ts')).toBe(m1);
      writeFileSync(join(root, 'enclave', 'main.ts'), 'b');
      expect(computeMeasurement(root, '.ts')).not.toBe(m1);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
