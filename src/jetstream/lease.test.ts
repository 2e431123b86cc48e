import { describe, expect, it } from 'vitest';
import { hasSerializableClusteredCas, leaseKey, leaseValueSchema } from './index.js';

describe('hasSerializableClusteredCas', () => {
  it('is false before 2.9.21 (nats-server#4320) and true from it on, whatever the suffix', () => {
    for (const v of ['2.9.10', '2.9.20', '2.8.4', '1.4.1', 'v2.9.9'])
      expect(hasSerializableClusteredCas(v), v).toBe(false);
    for (const v of ['2.9.21', '2.9.25', '2.10.0', '2.10.18-beta.1', '2.11.3', 'v3.0.0'])
      expect(hasSerializableClusteredCas(v), v).toBe(true);
  });

  it('is false for a version it cannot read', () => {
    expect(hasSerializableClusteredCas('unknown')).toBe(false);
    expect(hasSerializableClusteredCas('')).toBe(false);
  });
});

describe('leaseKey and the lease value', () => {
  it('names partition n as partition.<n> and rejects what is not a partition number', () => {
    expect(leaseKey(0)).toBe('partition.0');
    expect(leaseKey(1023)).toBe('partition.1023');
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 60]) expect(() => leaseKey(bad)).toThrow(RangeError);
  });

  it('accepts what a worker writes and nothing with extra or missing fields', () => {
    const ok = { worker: 'w1', expires_ms: 1_700_000_000_000, write_id: 'x' };
    expect(leaseValueSchema.parse(ok)).toEqual(ok);
    expect(leaseValueSchema.parse({ ...ok, commit: 'ckpt@7' }).commit).toBe('ckpt@7');
    expect(leaseValueSchema.safeParse({ ...ok, extra: 1 }).success).toBe(false);
    expect(leaseValueSchema.safeParse({ worker: 'w1', expires_ms: 1 }).success).toBe(false);
    expect(leaseValueSchema.safeParse({ ...ok, expires_ms: -1 }).success).toBe(false);
  });
});
