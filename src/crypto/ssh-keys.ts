/**
 * Ed25519 SSH key pairs (OpenSSH format) for SFTP logins and host keys. ssh2's generator drops a leading zero byte
 * of the public key about once in 400 keys, writing a 31-byte key that ssh2 itself then refuses as "Malformed
 * OpenSSH public key"; a pair is returned only once both halves parse.
 */
import ssh2 from 'ssh2';
import { HrvaultError } from '../errors.js';

/** A fresh Ed25519 SSH key pair: OpenSSH private key text and `ssh-ed25519 AAAA…` public key line. */
export function generateSshKeyPair(): { private: string; public: string } {
  for (let attempt = 0; attempt < 16; attempt++) {
    const k = ssh2.utils.generateKeyPairSync('ed25519');
    if (!(ssh2.utils.parseKey(k.public) instanceof Error) && !(ssh2.utils.parseKey(k.private) instanceof Error)) return k;
  }
  throw new HrvaultError('HRV_ERR_CONFIG', 'could not generate a well-formed Ed25519 SSH key pair');
}
