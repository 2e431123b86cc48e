/**
 * The secrets every worker's enclave of one JetStream cluster shares: the key ring (so any worker opens a file a
 * gateway sealed to the attested key, and signs results with the pair that gateway attested) and the state secret
 * (so any worker opens the sealed checkpoint pieces another worker made for a partition it takes over).
 *
 * They are made once, inside the first enclave (`createClusterSecrets`), and reach another worker's enclave only
 * sealed: on a worker's disk under its platform sealing secret (`cluster.sealed`, purpose 'cluster'), and between
 * enclaves after attestation (src/enclave/provisioning.ts, which carries the encoded form). The host never sees
 * them in the clear.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { KeyRing, keyRingPortableSchema, NO_ROTATION, type KeyRingPortable } from './keyring.js';
import { SealingError, seal, unseal, writeFileDurable } from './sealing.js';

/** The cluster's shared secrets: the key ring in its portable form and the 32-byte state secret. */
export interface ClusterSecrets {
  ring: KeyRingPortable;
  stateSecret: Uint8Array;
}

/** Bytes of the state secret (an AES-256 key's worth; keys are derived from it per purpose). */
export const STATE_SECRET_BYTES = 32;
/** The file, in the enclave's data directory, that holds the cluster secrets sealed to this platform. */
export const CLUSTER_SECRETS_FILE = 'cluster.sealed';
const PURPOSE = 'cluster';

const encodedSchema = z.strictObject({
  v: z.literal(1),
  ring: keyRingPortableSchema,
  state_secret: z.string().regex(new RegExp(`^[0-9a-f]{${2 * STATE_SECRET_BYTES}}$`)),
});

/**
 * New cluster secrets: a ring of one fresh pair and a random state secret; `now` in epoch ms. The ring never rotates
 * in cluster mode (NO_ROTATION): each worker would rotate on its own clock and the workers' rings would drift apart,
 * so a gateway that attested one worker could seal to a key another does not hold. Rotating the shared ring needs a
 * coordinated hand-over through the provisioning channel: a follow-up.
 */
export function createClusterSecrets(now = Date.now()): ClusterSecrets {
  return {
    ring: KeyRing.generate(NO_ROTATION, now).toPortable(),
    stateSecret: new Uint8Array(randomBytes(STATE_SECRET_BYTES)),
  };
}

/** The secrets as bytes (JSON; private keys in hex): to seal, never to send in the clear. */
export function encodeClusterSecrets(s: ClusterSecrets): Uint8Array {
  if (s.stateSecret.length !== STATE_SECRET_BYTES)
    throw new SealingError(
      `the cluster state secret must be ${STATE_SECRET_BYTES} bytes, not ${s.stateSecret.length}`,
    );
  const encoded: z.infer<typeof encodedSchema> = {
    v: 1,
    ring: keyRingPortableSchema.parse(s.ring),
    state_secret: Buffer.from(s.stateSecret).toString('hex'),
  };
  return new Uint8Array(Buffer.from(JSON.stringify(encoded)));
}

/** Reads secrets made by `encodeClusterSecrets`; throws SealingError (HRV_ERR_SEALING) on anything else. */
export function decodeClusterSecrets(bytes: Uint8Array): ClusterSecrets {
  let parsed: z.infer<typeof encodedSchema>;
  try {
    parsed = encodedSchema.parse(
      JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8')),
    );
    // Every key must make a pair (a valid X25519 / Ed25519 private key), or the ring would fail only at first use.
    KeyRing.fromPortable(parsed.ring, NO_ROTATION);
  } catch (err) {
    throw new SealingError('cluster secrets are malformed', { cause: err });
  }
  return { ring: parsed.ring, stateSecret: new Uint8Array(Buffer.from(parsed.state_secret, 'hex')) };
}

/** True when `a` and `b` are the same secrets (constant time over their encodings of equal length). */
export function sameClusterSecrets(a: ClusterSecrets, b: ClusterSecrets): boolean {
  const x = encodeClusterSecrets(a);
  const y = encodeClusterSecrets(b);
  try {
    return x.length === y.length && timingSafeEqual(x, y);
  } finally {
    x.fill(0);
    y.fill(0);
  }
}

/** Seals `s` under this platform's sealing `secret` into `<dataDir>/cluster.sealed`, durably (fsync'd, then renamed). */
export function saveClusterSecrets(dataDir: string, secret: Uint8Array, s: ClusterSecrets): void {
  const plain = encodeClusterSecrets(s);
  try {
    writeFileDurable(join(dataDir, CLUSTER_SECRETS_FILE), seal(secret, PURPOSE, plain));
  } finally {
    plain.fill(0);
  }
}

/** The secrets sealed in `<dataDir>/cluster.sealed`, or null when there is no such file; SealingError when it does not open. */
export function loadClusterSecrets(dataDir: string, secret: Uint8Array): ClusterSecrets | null {
  const file = join(dataDir, CLUSTER_SECRETS_FILE);
  if (!existsSync(file)) return null;
  const plain = unseal(secret, PURPOSE, readFileSync(file));
  try {
    return decodeClusterSecrets(plain);
  } finally {
    plain.fill(0);
  }
}
