import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { generateSshKeyPair } from './ssh-keys.js';

describe('generateSshKeyPair', () => {
  // ssh2 alone writes an unparsable public key about once in 400 (a dropped leading zero byte): 3,000 pairs
  // would almost surely include one.
  it('never returns a key ssh2 cannot parse', () => {
    for (let i = 0; i < 3000; i++) {
      const k = generateSshKeyPair();
      expect(ssh2.utils.parseKey(k.public)).not.toBeInstanceOf(Error);
    }
  });
});
