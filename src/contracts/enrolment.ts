/** The operator's enrolment file for the enclave: which gateways may send batches and receive results. */
import { z } from 'zod';
import { WIRE_ID } from './ids.js';

const key32 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 32 bytes of lowercase hex');

export const enrolmentFileSchema = z
  .array(z.strictObject({ id: z.string().regex(WIRE_ID, 'gateway id must be 1–64 of [A-Za-z0-9_-]'), signingPublicKey: key32, hpkePublicKey: key32 }))
  .min(1, 'at least one gateway must be enrolled');
export type EnrolmentFile = z.infer<typeof enrolmentFileSchema>;

const hex = z.string().regex(/^[0-9a-f]+$/, 'must be lowercase hex');

/** A gateway's own identity file (keys.json in its data directory; never leaves the gateway). */
export const gatewayKeysFileSchema = z.object({
  hpke_private: hex,
  hpke_public: hex,
  signing_private: hex,
  signing_public: hex,
  ssh_private: z.string(),
  ssh_public: z.string(),
  pseudonym_key: hex,
});
export type GatewayKeysFile = z.infer<typeof gatewayKeysFileSchema>;

/** What `hrvault gateway --print-keys` prints and an operator hands to the cloud host (SSH login, enclave enrolment) and the CSP (device). */
export const gatewayPublicKeysSchema = z.object({
  id: z.string().regex(WIRE_ID, 'gateway id must be 1–64 of [A-Za-z0-9_-]'),
  ssh_public_key: z.string().min(1),
  signing_public_key: key32,
  hpke_public_key: key32,
});
export type GatewayPublicKeys = z.infer<typeof gatewayPublicKeysSchema>;
