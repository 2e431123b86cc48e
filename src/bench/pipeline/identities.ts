/** Benchmark gateway identities: fresh key pairs for each gateway the load generator plays (never real keys). */
import { generateHpkeKeyPair, generateSigningKeyPair, generateSshKeyPair } from '../../crypto/index.js';
import { randomBytes } from 'node:crypto';
import type { GeneratorConfig, ServerConfig } from './protocol.js';

export interface Identities {
  server: ServerConfig['gateways'];
  generator: GeneratorConfig['gateways'];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** `n` gateway identities `bench-gw0…`: public halves for the server, private halves for the generator. */
export function makeIdentities(n: number): Identities {
  const out: Identities = { server: [], generator: [] };
  for (let i = 0; i < n; i++) {
    const id = `bench-gw${i}`;
    const ssh = generateSshKeyPair();
    const sign = generateSigningKeyPair();
    const hpke = generateHpkeKeyPair();
    out.server.push({ id, sshPublicKey: ssh.public, signingPublicKey: hex(sign.publicKey), hpkePublicKey: hex(hpke.publicKey) });
    out.generator.push({ id, sshPrivateKey: ssh.private, signingPrivateKey: hex(sign.privateKey), hpkePrivateKey: hex(hpke.privateKey), pseudonymKey: hex(randomBytes(32)) });
  }
  return out;
}
