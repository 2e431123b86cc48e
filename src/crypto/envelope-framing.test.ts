import { describe, expect, it } from 'vitest';
import { padBody, unpadBody } from './envelope-framing.js';
import { envelopeCodeOf } from './test-support/envelope-fixtures.js';

describe('envelope body padding (both versions)', () => {
  it('round-trips through its bucket and refuses a non-zero padding byte anywhere, a bad length, and no length', () => {
    const plain = new TextEncoder().encode('time_ms,rr_ms\n1,2\n');
    for (const bucket of [1024, 8192]) {
      const body = padBody(plain, () => bucket);
      expect(body.length).toBe(bucket);
      expect(Buffer.from(unpadBody(body)).equals(Buffer.from(plain))).toBe(true);
      for (const at of [4 + plain.length, bucket >> 1, bucket - 1]) {
        const t = Buffer.from(body);
        t[at] = 1;
        expect(envelopeCodeOf(() => unpadBody(t)), `byte ${at} of ${bucket}`).toBe('HRV_ERR_ENVELOPE_CONTENT');
      }
    }
    const long = padBody(plain);
    long.writeUInt32BE(long.length - 3, 0);
    expect(() => unpadBody(long)).toThrow(/exceeds the/);
    expect(() => unpadBody(new Uint8Array(3))).toThrow(/no length field/);
  });
});
