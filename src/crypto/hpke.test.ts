import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { describe, expect, it } from 'vitest';
import {
  deriveHpkeKeyPair,
  generateHpkeKeyPair,
  hpkeOpen,
  hpkeSeal,
  HpkeError,
  setupBaseRecipient,
  setupBaseSender,
} from './hpke.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// RFC 9180 Appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode.
const A11 = {
  info: '4f6465206f6e2061204772656369616e2055726e',
  ikmE: '7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234',
  pkEm: '37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431',
  skEm: '52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736',
  ikmR: '6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037',
  pkRm: '3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d',
  skRm: '4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8',
  sharedSecret: 'fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc',
  key: '4531685d41d65f03dc48f6b8302c05b0',
  baseNonce: '56d890e5accaaf011cff4b7d',
  exporterSecret: '45ff1c2e220db587171952c0592d5f5ebe103f1561a2614e38f2ffd47e99e3f8',
  pt: '4265617574792069732074727574682c20747275746820626561757479',
  encryptions: [
    { aad: '436f756e742d30', ct: 'f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a' },
    { aad: '436f756e742d31', ct: 'af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84' },
    { aad: '436f756e742d32', ct: '498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb72516491588d96a19ad4a683518973dcc180' },
  ],
};

describe('HPKE against RFC 9180 A.1.1', () => {
  it('derives the ephemeral and recipient key pairs', () => {
    const e = deriveHpkeKeyPair(hex(A11.ikmE));
    const r = deriveHpkeKeyPair(hex(A11.ikmR));
    expect(toHex(e.privateKey)).toBe(A11.skEm);
    expect(toHex(e.publicKey)).toBe(A11.pkEm);
    expect(toHex(r.privateKey)).toBe(A11.skRm);
    expect(toHex(r.publicKey)).toBe(A11.pkRm);
  });

  it('reproduces the shared secret, key schedule and ciphertexts as sender and recipient', () => {
    const eph = { privateKey: hex(A11.skEm), publicKey: hex(A11.pkEm) };
    const s = setupBaseSender(hex(A11.pkRm), hex(A11.info), 'aes-128-gcm', eph);
    expect(toHex(s.enc)).toBe(A11.pkEm);
    expect(toHex(s.schedule.sharedSecret)).toBe(A11.sharedSecret);
    expect(toHex(s.schedule.key)).toBe(A11.key);
    expect(toHex(s.schedule.baseNonce)).toBe(A11.baseNonce);
    expect(toHex(s.schedule.exporterSecret)).toBe(A11.exporterSecret);
    const r = setupBaseRecipient(hex(A11.skRm), hex(A11.pkEm), hex(A11.info), 'aes-128-gcm');
    for (const v of A11.encryptions) {
      expect(toHex(s.seal(hex(v.aad), hex(A11.pt)))).toBe(v.ct);
      expect(toHex(r.open(hex(v.aad), hex(v.ct)))).toBe(A11.pt);
    }
  });

  it('refuses a vector ciphertext with one bit flipped', () => {
    const ct = hex(A11.encryptions[0]!.ct);
    ct[3]! ^= 0x01;
    expect(() => hpkeOpen(hex(A11.skRm), hex(A11.pkEm), hex(A11.info), hex(A11.encryptions[0]!.aad), ct, 'aes-128-gcm')).toThrow(HpkeError);
  });
});

describe('HPKE AES-256-GCM interop with @hpke/core', () => {
  const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
  const info = new TextEncoder().encode('hrvault interop');
  const aad = new TextEncoder().encode('header');
  const pt = new TextEncoder().encode('time_ms,rr_ms\n1000,812\n1805,805\n');

  it('our seal opens with @hpke/core', async () => {
    const kp = generateHpkeKeyPair();
    const { enc, ciphertext } = hpkeSeal(kp.publicKey, info, aad, pt);
    const recipientKey = await suite.kem.deserializePrivateKey(kp.privateKey.slice().buffer);
    const opened = await suite.open({ recipientKey, enc: enc.slice().buffer, info: info.slice().buffer }, ciphertext, aad);
    expect(new Uint8Array(opened)).toEqual(pt);
  });

  it('@hpke/core seal opens with ours, and fails under the wrong key or associated data', async () => {
    const kp = generateHpkeKeyPair();
    const recipientPublicKey = await suite.kem.deserializePublicKey(kp.publicKey.slice().buffer);
    const sealed = await suite.seal({ recipientPublicKey, info }, pt, aad);
    const enc = new Uint8Array(sealed.enc);
    const ct = new Uint8Array(sealed.ct);
    expect(hpkeOpen(kp.privateKey, enc, info, aad, ct)).toEqual(pt);
    expect(() => hpkeOpen(generateHpkeKeyPair().privateKey, enc, info, aad, ct)).toThrow(HpkeError);
    expect(() => hpkeOpen(kp.privateKey, enc, info, new TextEncoder().encode('other'), ct)).toThrow(HpkeError);
  });
});

describe('HPKE input checks', () => {
  it('rejects keys and encapsulations of the wrong length and all-zero (small-order) public keys', () => {
    const kp = generateHpkeKeyPair();
    expect(() => hpkeSeal(new Uint8Array(31), new Uint8Array(0), new Uint8Array(0), new Uint8Array(1))).toThrow(/32 bytes/);
    expect(() => hpkeSeal(new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), new Uint8Array(1))).toThrow(HpkeError);
    expect(() => hpkeOpen(kp.privateKey, new Uint8Array(31), new Uint8Array(0), new Uint8Array(0), new Uint8Array(32))).toThrow(/encapsulated key/);
    expect(() => hpkeOpen(kp.privateKey, kp.publicKey, new Uint8Array(0), new Uint8Array(0), new Uint8Array(8))).toThrow(/shorter than/);
  });
});
