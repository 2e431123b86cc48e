import { beforeAll, describe, expect, it } from 'vitest';
import {
  PaillierEncryptor,
  PaillierError,
  SlotCodec,
  addCiphertexts,
  decryptPacked,
  exportPaillierPrivateKey,
  exportPaillierPublicKey,
  generatePaillierKeys,
  importPaillierPrivateKey,
  importPaillierPublicKey,
  type PaillierKeyPair,
} from './paillier.js';

let keys: PaillierKeyPair;
beforeAll(async () => {
  // 1024-bit keys keep the test quick; production uses 2048 (see the benchmark).
  keys = await generatePaillierKeys(1024);
});

describe('Paillier metadata', () => {
  it('the SP adds packed ciphertexts with the public key alone and the CSP reads the sums', () => {
    const codec = new SlotCodec(1024);
    const enc = new PaillierEncryptor(keys.publicKey, keys.privateKey);
    enc.refill(5);
    const rows = [
      [300n, 240_000n, 192_500_000n],
      [310n, 250_000n, 201_000_000n],
      [295n, 236_000n, 189_000_000n],
    ];
    const cts = rows.map((r) => enc.encrypt(codec.pack(r)));
    const spKey = importPaillierPublicKey(exportPaillierPublicKey(keys.publicKey));
    const sum = addCiphertexts(spKey, cts);
    expect(decryptPacked(keys.privateKey, sum, codec, 3)).toEqual([905n, 726_000n, 582_500_000n]);
  });

  it('encryption is randomised: equal plaintexts give different ciphertexts', () => {
    const enc = new PaillierEncryptor(keys.publicKey);
    expect(enc.encrypt(7n)).not.toBe(enc.encrypt(7n));
  });

  it('randomness from the CRT pool and from the plain public key decrypt alike', () => {
    const viaCrt = new PaillierEncryptor(keys.publicKey, keys.privateKey);
    const plain = new PaillierEncryptor(keys.publicKey);
    expect(keys.privateKey.decrypt(viaCrt.encrypt(123456789n))).toBe(123456789n);
    expect(keys.privateKey.decrypt(plain.encrypt(987654321n))).toBe(987654321n);
  });

  it('a private key rebuilt from its primes decrypts what the original key encrypted', () => {
    const again = importPaillierPrivateKey(JSON.parse(JSON.stringify(exportPaillierPrivateKey(keys.privateKey))));
    const c = new PaillierEncryptor(keys.publicKey).encrypt(42n);
    expect(again.privateKey.decrypt(c)).toBe(42n);
  });

  it('refuses values that could overflow into the next slot, and bad ciphertexts and keys', () => {
    const codec = new SlotCodec(1024, { slotBits: 32, headroomBits: 8 });
    expect(codec.slots).toBe(31);
    expect(() => codec.pack([1n << 24n])).toThrow(PaillierError);
    expect(() => codec.pack([-1n])).toThrow(/slot 0/);
    expect(() => addCiphertexts(keys.publicKey, [0n])).toThrow(/ciphertext outside/);
    expect(() => importPaillierPublicKey({ n: 'zz' })).toThrow(/hex/);
  });
});

describe('modular exponentiation through OpenSSL', () => {
  it('agrees with BigInt arithmetic, including small and edge cases', async () => {
    const { modPow } = await import('bigint-crypto-utils');
    const { opensslModPow } = await import('./paillier.js');
    const m = keys.publicKey.n * keys.publicKey.n;
    for (const [b, e] of [
      [123456789n, keys.publicKey.n],
      [m - 2n, 65537n],
      [2n, 1n],
      [1n, 5n],
    ] as Array<[bigint, bigint]>) {
      expect(opensslModPow(b, e, m)).toBe(modPow(b, e, m));
    }
  });
});

describe('CRT decryption', () => {
  it('matches the library decryption on random plaintexts and sums', () => {
    const codec = new SlotCodec(1024);
    const enc = new PaillierEncryptor(keys.publicKey);
    for (let i = 0; i < 5; i++) {
      const values = [BigInt(i * 1000 + 7), 123456789n, BigInt(2 ** 40 + i)];
      const c = enc.encrypt(codec.pack(values));
      expect(decryptPacked(keys.privateKey, c, codec, 3)).toEqual(values);
      expect(decryptPacked(keys.privateKey, c, codec, 3)).toEqual(codec.unpack(keys.privateKey.decrypt(c), 3));
    }
  });
});
