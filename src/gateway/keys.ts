/**
 * The gateway's long-term keys, created on first start in `<dataDir>/keys.json` (mode 0600): X25519 for
 * results sealed to it, Ed25519 for signing its batches, an SSH key for its SFTP login, and the pseudonym
 * key. The public halves are what an operator enrols at the cloud (SSH) and the enclave (signing, HPKE).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gatewayKeysFileSchema } from '../contracts/index.js';
import { generateHpkeKeyPair, generateSigningKeyPair, generateSshKeyPair } from '../crypto/index.js';
import { HrvaultError } from '../errors.js';

export interface GatewayKeys {
  hpkePrivateKey: Uint8Array;
  hpkePublicKey: Uint8Array;
  signingPrivateKey: Uint8Array;
  signingPublicKey: Uint8Array;
  sshPrivateKey: string;
  sshPublicKey: string;
  pseudonymKey: Uint8Array;
}

const b = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const h = (u: Uint8Array): string => Buffer.from(u).toString('hex');

/** Loads the gateway's keys from `dir`, creating them on first use. */
export function ensureGatewayKeys(dir: string): GatewayKeys {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'keys.json');
  if (!existsSync(path)) {
    const hpke = generateHpkeKeyPair();
    const sig = generateSigningKeyPair();
    const sshKeys = generateSshKeyPair();
    const doc = {
      hpke_private: h(hpke.privateKey),
      hpke_public: h(hpke.publicKey),
      signing_private: h(sig.privateKey),
      signing_public: h(sig.publicKey),
      ssh_private: sshKeys.private,
      ssh_public: sshKeys.public,
      pseudonym_key: randomBytes(32).toString('hex'),
    };
    writeFileSync(`${path}.tmp`, JSON.stringify(doc, null, 2), { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  }
  const parsed = gatewayKeysFileSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success)
    throw new HrvaultError(
      'HRV_ERR_CONFIG',
      `gateway key file ${path} is invalid: ${parsed.error.issues[0]?.path.join('.')}`,
    );
  const d = parsed.data;
  return {
    hpkePrivateKey: b(d.hpke_private),
    hpkePublicKey: b(d.hpke_public),
    signingPrivateKey: b(d.signing_private),
    signingPublicKey: b(d.signing_public),
    sshPrivateKey: d.ssh_private,
    sshPublicKey: d.ssh_public,
    pseudonymKey: b(d.pseudonym_key),
  };
}
