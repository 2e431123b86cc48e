import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { partitionOf } from './index.js';

describe('partitionOf (contracts)', () => {
  it("equals node:crypto's SHA-256 first word modulo the count, for strings of every length across block boundaries", () => {
    for (let len = 1; len <= 200; len++) {
      const s = randomBytes(len).toString('base64url').slice(0, len);
      const want = createHash('sha256').update(s, 'utf8').digest().readUInt32BE(0);
      for (const n of [1, 7, 16, 1024]) expect(partitionOf(s, n)).toBe(want % n);
    }
    const multiByte = 'é✓𝄞'.repeat(30);
    expect(partitionOf(multiByte, 1021)).toBe(
      createHash('sha256').update(multiByte, 'utf8').digest().readUInt32BE(0) % 1021,
    );
  });
});
