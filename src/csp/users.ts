/**
 * U_inf, the user record: identity, role, assignments and a password verifier — never the password.
 * Verifiers are Argon2id with OWASP's 2024 minimum (19 MiB, 2 passes, 1 lane), through @node-rs/argon2.
 */
import { hash, verify } from '@node-rs/argon2';
import { z } from 'zod';

import { ROLES } from './vocabulary.js';

export { ROLES, type Role } from './vocabulary.js';

const id = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (1–64)');

/** The user record as the CSP holds it in memory and seals for the SP. */
export const userRecordSchema = z.strictObject({
  user_id: id,
  username: z.string().regex(/^[a-z0-9_.@-]{3,64}$/, 'lower-case letters, digits, _ . @ - (3–64)'),
  role: z.enum(ROLES),
  display_name: z.string().max(128),
  /** For a patient: the patient id whose records are theirs. */
  patient_id: id.optional(),
  /** For health workers: patients assigned to them; for doctors: patients in their care. */
  patients: z.array(id).max(100_000),
  verifier: z.string().startsWith('$argon2id$'),
  version: z.number().int().min(1),
  created_ms: z.number().int(),
  disabled: z.boolean(),
  /**
   * Set while the account waits for its holder to enrol: Argon2id verifiers of the enrolment code's parts,
   * one per admin who took part in the grant. The account cannot log in until its holder presents every
   * part and sets a password of their own (`CspService.enrol`), so no admin alone knows a working password.
   */
  enrol: z.array(z.string().startsWith('$argon2id$')).min(1).max(16).optional(),
  /** The grant (see grants.ts) that must be approved before this account can enrol. */
  pending_grant: z.string().optional(),
});

export type UserRecord = z.infer<typeof userRecordSchema>;

// Argon2id parameters: OWASP Password Storage Cheat Sheet minimum (m = 19 MiB, t = 2, p = 1).
const ARGON2 = { algorithm: 2 /* Argon2id */, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Hashes a password into an Argon2id verifier string. */
export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2);
}

/** Checks a password against a verifier (constant-time inside the library). */
export function verifyPassword(verifier: string, password: string): Promise<boolean> {
  return verify(verifier, password, ARGON2);
}

/** Minimum password rules: at least 12 characters, at most 256 (NIST SP 800-63B favours length over composition). */
export function passwordProblem(password: string): string | undefined {
  if (password.length < 12) return 'must be at least 12 characters';
  if (password.length > 256) return 'must be at most 256 characters';
  return undefined;
}
