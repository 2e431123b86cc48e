import { describe, expect, it } from 'vitest';
import { parseEnrolment } from './enrolment.js';

describe('parseEnrolment', () => {
  const ok = { id: 'gw1', signingPublicKey: 'a'.repeat(64), hpkePublicKey: 'b'.repeat(64) };
  it('parses hex keys into bytes', () => {
    const [g] = parseEnrolment([ok]);
    expect(g!.signingPublicKey).toHaveLength(32);
    expect(g!.hpkePublicKey[0]).toBe(0xbb);
  });
  it('names the bad entry', () => {
    expect(() => parseEnrolment([{ ...ok, hpkePublicKey: 'xyz' }], 'f.json')).toThrow(/f.json: 0.hpkePublicKey: must be 32 bytes/);
    expect(() => parseEnrolment([ok, ok])).toThrow(/enrolled twice/);
    expect(() => parseEnrolment([])).toThrow(/at least one/);
    expect(() => parseEnrolment([{ ...ok, id: '../x' }])).toThrow(/gateway id/);
  });
});
