import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { RecordIntegrityError, blindIndex, openRecord, rewrapRecord, sealRecord, type KekRing } from './record-crypto.js';
import { chainLink, CHAIN_GENESIS } from '../protocol/index.js';

function ring(): KekRing {
  return { current: 1, keys: new Map([[1, randomBytes(32)]]) };
}

describe('record envelope encryption', () => {
  it('round-trips and hides the plaintext', () => {
    const r = ring();
    const sealed = sealRecord(r, 'p1|3|hrv', Buffer.from('{"sdnn_ms":41.2}'));
    expect(sealed.includes(Buffer.from('sdnn'))).toBe(false);
    expect(openRecord(r, 'p1|3|hrv', sealed).toString()).toBe('{"sdnn_ms":41.2}');
  });

  it('detects a flipped bit anywhere and a record moved to another context', () => {
    const r = ring();
    const sealed = sealRecord(r, 'p1|3|hrv', Buffer.from('payload'));
    for (let i = 0; i < sealed.length; i++) {
      const bad = Buffer.from(sealed);
      bad[i]! ^= 0x01;
      expect(() => openRecord(r, 'p1|3|hrv', bad)).toThrow(RecordIntegrityError);
    }
    expect(() => openRecord(r, 'p2|3|hrv', sealed)).toThrow(/integrity/);
    expect(() => openRecord(r, 'p1|3|hrv', sealed.subarray(0, 40))).toThrow(/truncated/);
  });

  it('KEK rotation re-wraps the header only and old records stay readable', () => {
    const r = ring();
    const sealed = sealRecord(r, 'ctx', Buffer.from('note'));
    r.keys.set(2, randomBytes(32));
    r.current = 2;
    const rewrapped = rewrapRecord(r, sealed);
    expect(rewrapped.subarray(80).equals(sealed.subarray(80))).toBe(true);
    expect(rewrapped.readUInt32BE(4)).toBe(2);
    r.keys.delete(1);
    expect(openRecord(r, 'ctx', rewrapped).toString()).toBe('note');
  });

  it('blind indexes are stable per key and differ across keys and labels', () => {
    const k = randomBytes(32);
    expect(blindIndex(k, 'patient', 'P-1')).toBe(blindIndex(k, 'patient', 'P-1'));
    expect(blindIndex(k, 'patient', 'P-1')).not.toBe(blindIndex(k, 'type', 'P-1'));
    expect(blindIndex(randomBytes(32), 'patient', 'P-1')).not.toBe(blindIndex(k, 'patient', 'P-1'));
  });

  it('the hash chain changes if a record is altered, dropped or reordered', () => {
    const a = Buffer.from('a');
    const b = Buffer.from('b');
    const ab = chainLink(chainLink(CHAIN_GENESIS, 1, a), 2, b);
    expect(chainLink(chainLink(CHAIN_GENESIS, 1, b), 2, a).equals(ab)).toBe(false);
    expect(chainLink(CHAIN_GENESIS, 1, a).equals(ab)).toBe(false);
  });
});
