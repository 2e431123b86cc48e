import { describe, expect, it } from 'vitest';
import { leaseKey, leaseValueSchema } from './index.js';

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
