import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createQuote, generateHpkeKeyPair, generateSigningKeyPair, verifyQuoteDetails, type VerifiedQuote } from '../crypto/index.js';
import { AttestedKeys } from './attested-keys.js';

const platform = generateSigningKeyPair();
const measurement = 'ab'.repeat(32);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A quote for a fresh enclave pair, as the enclave makes it, and what the gateway verified of it. */
function attestFresh(): { quote: unknown; nonce: Uint8Array; v: VerifiedQuote } {
  const nonce = randomBytes(32);
  const quote: unknown = JSON.parse(
    JSON.stringify(createQuote(platform.privateKey, { measurement, enclavePublicKey: generateHpkeKeyPair().publicKey, enclaveSigningKey: generateSigningKeyPair().publicKey, nonce })),
  );
  return { quote, nonce, v: verify(quote, nonce) };
}
const verify = (quote: unknown, nonce: Uint8Array): VerifiedQuote =>
  verifyQuoteDetails(quote, { platformPublicKey: platform.publicKey, allowedMeasurements: [measurement], allowSoftwareQuotes: true, nonce });

describe('AttestedKeys', () => {
  it('keeps every attested pair across a restart and lists the signers newest first', () => {
    const d = mkdtempSync(join(tmpdir(), 'attested-'));
    dirs.push(d);
    const file = join(d, 'attested.json');
    const keys = AttestedKeys.open(file, verify);
    const a = attestFresh();
    const b = attestFresh();
    keys.add(a.quote, a.nonce, a.v, 1);
    keys.add(b.quote, b.nonce, b.v, 2);
    const again = AttestedKeys.open(file, verify);
    expect(again.signers()).toEqual([b.v.enclaveSigningKey, a.v.enclaveSigningKey]);
  });

  it('drops an entry that no longer verifies (a key smuggled into the file, or signed by another platform key)', () => {
    const d = mkdtempSync(join(tmpdir(), 'attested-'));
    dirs.push(d);
    const file = join(d, 'attested.json');
    const good = attestFresh();
    AttestedKeys.open(file, verify).add(good.quote, good.nonce, good.v, 1);
    const entries = JSON.parse(readFileSync(file, 'utf8')) as { nonce: string; at_ms: number; quote: Record<string, unknown> }[];
    const forgedPlatform = generateSigningKeyPair();
    const nonce = randomBytes(32);
    const foreign = JSON.parse(JSON.stringify(createQuote(forgedPlatform.privateKey, { measurement, enclavePublicKey: generateHpkeKeyPair().publicKey, enclaveSigningKey: generateSigningKeyPair().publicKey, nonce }))) as Record<string, unknown>;
    const swapped = { ...entries[0]!, quote: { ...entries[0]!.quote, enclave_signing_key: Buffer.from(generateSigningKeyPair().publicKey).toString('hex') } };
    writeFileSync(file, JSON.stringify([...entries, swapped, { nonce: Buffer.from(nonce).toString('hex'), at_ms: 3, quote: foreign }]));
    expect(AttestedKeys.open(file, verify).signers()).toEqual([good.v.enclaveSigningKey]);
  });
});
