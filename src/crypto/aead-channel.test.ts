import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ChannelIntegrityError, ChannelReceiver, ChannelReplayError, ChannelSender } from './aead-channel.js';

const keyId = '0123456789abcdef';

function pair(window = 0) {
  const key = randomBytes(32);
  return { tx: new ChannelSender(keyId, key, 'storage'), rx: new ChannelReceiver(keyId, key, 'storage', { reorderWindow: window }), key };
}

describe('CSP–SP message channel', () => {
  it('opens what it sealed, in order', () => {
    const { tx, rx } = pair();
    for (let i = 0; i < 3; i++) {
      const m = tx.seal(Buffer.from(`record ${i}`));
      expect(rx.open(m).toString()).toBe(`record ${i}`);
    }
  });

  it('rejects a replayed message and a reordered one', () => {
    const { tx, rx } = pair();
    const m1 = tx.seal(Buffer.from('a'));
    const m2 = tx.seal(Buffer.from('b'));
    rx.open(m2);
    expect(() => rx.open(m1)).toThrow(ChannelReplayError);
    expect(() => rx.open(m2)).toThrow(/replayed or out of order/);
  });

  it('with a reorder window accepts late messages once but never a replay', () => {
    const { tx, rx } = pair(8);
    const ms = [1, 2, 3].map((i) => tx.seal(Buffer.from(String(i))));
    rx.open(ms[2]);
    expect(rx.open(ms[0]).toString()).toBe('1');
    expect(() => rx.open(ms[0])).toThrow(ChannelReplayError);
    expect(rx.open(ms[1]).toString()).toBe('2');
  });

  it('detects a flipped bit anywhere in the ciphertext, nonce or sequence number', () => {
    const { tx, key } = pair();
    const m = tx.seal(Buffer.from('heart rate 72'));
    const ct = Buffer.from(m.ct, 'base64url');
    for (let i = 0; i < ct.length; i++) {
      const rx = new ChannelReceiver(keyId, key, 'storage');
      const bad = Buffer.from(ct);
      bad[i]! ^= 0x10;
      expect(() => rx.open({ ...m, ct: bad.toString('base64url') })).toThrow(ChannelIntegrityError);
    }
    const nonce = Buffer.from(m.nonce, 'base64url');
    nonce[0]! ^= 1;
    expect(() => new ChannelReceiver(keyId, key, 'storage').open({ ...m, nonce: nonce.toString('base64url') })).toThrow(
      ChannelIntegrityError,
    );
    expect(() => new ChannelReceiver(keyId, key, 'storage').open({ ...m, seq: m.seq + 1 })).toThrow(ChannelIntegrityError);
  });

  it('binds an answer to its request id and a message to its direction', () => {
    const key = randomBytes(32);
    const tx = new ChannelSender(keyId, key, 'answer');
    const m = tx.seal(Buffer.from('42'), 'req-1');
    expect(() => new ChannelReceiver(keyId, key, 'answer').open(m, 'req-2')).toThrow(ChannelIntegrityError);
    expect(() => new ChannelReceiver(keyId, key, 'query').open(m, 'req-1')).toThrow(ChannelIntegrityError);
    expect(new ChannelReceiver(keyId, key, 'answer').open(m, 'req-1').toString()).toBe('42');
  });

  it('refuses a message under another key id and malformed messages with a named field', () => {
    const { tx, key } = pair();
    const m = tx.seal(Buffer.from('x'));
    expect(() => new ChannelReceiver('fedcba9876543210', key, 'storage').open(m)).toThrow(/expected fedcba9876543210/);
    expect(() => new ChannelReceiver(keyId, key, 'storage').open({ ...m, seq: -1 })).toThrow(/seq/);
    expect(() => new ChannelReceiver(keyId, key, 'storage').open({ ...m, ct: 'AA' })).toThrow(/truncated/);
    expect(() => new ChannelReceiver(keyId, key, 'storage').open('{"__proto__":{}}')).toThrow(ChannelIntegrityError);
  });
});
