import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { parseWorkOptions, partitionOf, workSubject } from './index.js';

describe('partitionOf', () => {
  it('is the first 4 bytes of SHA-256 (big-endian) modulo the partition count', () => {
    // Expected values computed outside this code base (Python hashlib) from the same definition.
    expect(partitionOf('p-0001', 16)).toBe(15);
    expect(partitionOf('p-0001', 1024)).toBe(175);
    expect(partitionOf('p-0001', 7)).toBe(5);
    expect(partitionOf('patient-42', 16)).toBe(15);
    expect(partitionOf('patient-42', 1024)).toBe(143);
    expect(partitionOf('zz', 1024)).toBe(893);
    expect(partitionOf('zz', 7)).toBe(0);
    // UTF-8, not UTF-16 code units.
    expect(partitionOf('é', 1024)).toBe(382);
    expect(partitionOf('anything', 1)).toBe(0);
  });

  it('spreads 10,000 pseudonyms over 16 partitions, each within ±20% of the mean', () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 10_000; i++) counts[partitionOf(`patient-${i}`, 16)]! += 1;
    const mean = 10_000 / 16;
    for (const [p, c] of counts.entries()) {
      expect(c, `partition ${p}`).toBeGreaterThanOrEqual(mean * 0.8);
      expect(c, `partition ${p}`).toBeLessThanOrEqual(mean * 1.2);
    }
  });

  it('refuses a partition count outside 1–1024 and an empty pseudonym', () => {
    for (const bad of [0, -1, 1025, 2.5, Number.NaN]) {
      expect(() => partitionOf('p', bad)).toThrow(ConfigError);
      expect(() => partitionOf('p', bad)).toThrow(/partitions/);
    }
    expect(() => partitionOf('', 16)).toThrow(RangeError);
  });
});

describe('parseWorkOptions', () => {
  const base = { partitions: 16, replicas: 1 };

  it('fills the documented defaults', () => {
    const o = parseWorkOptions(base);
    expect(o).toMatchObject({
      prefix: 'hrvault',
      stream: 'hrvault_work',
      partitions: 16,
      replicas: 1,
      duplicateWindowMs: 120_000,
    });
    expect(o.maxAgeMs).toBeGreaterThan(o.duplicateWindowMs);
    expect(o.maxBytes).toBeGreaterThan(0);
    expect(o.maxAckPending).toBeGreaterThan(0);
    expect(o.ackWaitMs).toBeGreaterThan(0);
    expect(parseWorkOptions({ ...base, prefix: 't1' }).stream).toBe('t1_work');
    expect(workSubject(o, 3)).toBe('hrvault.work.3');
  });

  it.each([
    ['partitions', { partitions: 0 }],
    ['partitions', { partitions: 1025 }],
    ['replicas', { replicas: 0 }],
    ['replicas', { replicas: 2.5 }],
    ['prefix', { prefix: 'a.b' }],
    ['prefix', { prefix: '' }],
    ['stream', { stream: 'has space' }],
    ['duplicateWindowMs', { duplicateWindowMs: 10 }],
    ['maxAgeMs', { maxAgeMs: -1 }],
    ['maxBytes', { maxBytes: 0 }],
    ['maxAckPending', { maxAckPending: 0 }],
    ['ackWaitMs', { ackWaitMs: 0 }],
    ['timeoutMs', { timeoutMs: 'soon' }],
    ['surplus', { surplus: 1 }],
  ])('names %s in the error for %j', (name, change) => {
    const attempt = (): unknown => parseWorkOptions({ ...base, ...change });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(new RegExp(name));
  });

  it('refuses a duplicate window longer than the age limit (the server would)', () => {
    expect(() => parseWorkOptions({ ...base, maxAgeMs: 60_000, duplicateWindowMs: 120_000 })).toThrow(
      /duplicateWindowMs/,
    );
    // maxAgeMs 0 = no age limit: any window goes.
    expect(parseWorkOptions({ ...base, maxAgeMs: 0 }).maxAgeMs).toBe(0);
  });

  it('refuses a partition number outside the configured count when building a subject', () => {
    const o = parseWorkOptions(base);
    expect(() => workSubject(o, 16)).toThrow(RangeError);
    expect(() => workSubject(o, -1)).toThrow(RangeError);
  });
});
