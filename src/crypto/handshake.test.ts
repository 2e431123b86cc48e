import { describe, expect, it } from 'vitest';
import { ephemeralX25519 } from './raw-keys.js';
import {
  HandshakeError,
  HandshakeInitiator,
  HandshakeResponder,
  exportIdentity,
  exportIdentityPublicKey,
  generateIdentity,
  importIdentity,
  importIdentityPublicKey,
} from './handshake.js';

function parties() {
  const csp = generateIdentity('csp');
  const sp = generateIdentity('sp');
  const initiator = new HandshakeInitiator(csp, { id: 'sp', publicKey: sp.publicKey });
  const responder = new HandshakeResponder(sp, { id: 'csp', publicKey: csp.publicKey });
  return { csp, sp, initiator, responder };
}

describe('Protocol I, Phase I: CSP–SP handshake', () => {
  it('both sides derive the same K_st, K_rt and key id, and the two keys differ', () => {
    const { initiator, responder } = parties();
    const reply = responder.reply(initiator.hello());
    const { keys, finish } = initiator.finish(reply);
    const spKeys = responder.complete(finish);
    expect(spKeys.keyId).toBe(keys.keyId);
    expect(spKeys.kSt.equals(keys.kSt)).toBe(true);
    expect(spKeys.kRt.equals(keys.kRt)).toBe(true);
    expect(keys.kSt.equals(keys.kRt)).toBe(false);
    expect(keys.kSt).toHaveLength(32);
  });

  it('each run gives fresh keys and a fresh key id (forward secrecy from ephemeral keys)', () => {
    const a = parties();
    const b = { ...a, initiator: new HandshakeInitiator(a.csp, { id: 'sp', publicKey: a.sp.publicKey }), responder: new HandshakeResponder(a.sp, { id: 'csp', publicKey: a.csp.publicKey }) };
    const k1 = a.initiator.finish(a.responder.reply(a.initiator.hello())).keys;
    const k2 = b.initiator.finish(b.responder.reply(b.initiator.hello())).keys;
    expect(k1.keyId).not.toBe(k2.keyId);
    expect(k1.kSt.equals(k2.kSt)).toBe(false);
  });

  it('a man in the middle who swaps the ephemeral key in the hello is detected by the responder', () => {
    const { initiator, responder } = parties();
    const hello = initiator.hello();
    const mitm = ephemeralX25519().publicKey.toString('base64url');
    expect(() => responder.reply({ ...hello, eph: mitm })).toThrow(/initiator signature does not verify/);
  });

  it('a man in the middle who answers with his own ephemeral key, signed by his own key, is detected', () => {
    const { csp, initiator } = parties();
    // Mallory knows the CSP's public key (it is public) and claims to be the SP.
    const mallory = new HandshakeResponder(generateIdentity('sp'), { id: 'csp', publicKey: csp.publicKey });
    expect(() => initiator.finish(mallory.reply(initiator.hello()))).toThrow(/responder signature does not verify/);
  });

  it('a tampered key confirmation from the initiator is detected by the responder', () => {
    const { initiator, responder } = parties();
    const reply = responder.reply(initiator.hello());
    const { finish } = initiator.finish(reply);
    const bad = Buffer.from(finish.confirm, 'base64url');
    bad[0]! ^= 1;
    expect(() => responder.complete({ ...finish, confirm: bad.toString('base64url') })).toThrow(/key confirmation failed/);
  });

  it('a hello from an unpinned initiator or with malformed fields is refused with a named error', () => {
    const { responder } = parties();
    const stranger = new HandshakeInitiator(generateIdentity('csp'), { id: 'sp', publicKey: generateIdentity('sp').publicKey });
    expect(() => responder.reply(stranger.hello())).toThrow(HandshakeError);
    const { responder: r2, initiator: i2 } = parties();
    expect(() => r2.reply({ ...i2.hello(), nonce: 'AAAA' })).toThrow(/hello.nonce must be 32 bytes/);
    const { responder: r3, initiator: i3 } = parties();
    expect(() => r3.reply({ ...i3.hello(), extra: 1 })).toThrow(/malformed handshake hello/);
  });

  it('identity keys survive export and import', () => {
    const id = generateIdentity('csp');
    const back = importIdentity(exportIdentity(id));
    expect(exportIdentityPublicKey(back.publicKey)).toBe(exportIdentityPublicKey(id.publicKey));
    expect(exportIdentityPublicKey(importIdentityPublicKey(exportIdentityPublicKey(id.publicKey)))).toBe(
      exportIdentityPublicKey(id.publicKey),
    );
  });
});

