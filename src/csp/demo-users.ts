/**
 * The demo's users: two admins (an admin's grant of access waits for a second admin's approval, the two-person
 * rule), two doctors, four health workers and a login for each synthetic patient, with patients spread over the
 * doctors and health workers. Passwords are random (printed once, and written to a credentials file on request).
 */
import { randomBytes } from 'node:crypto';
import type { CspService } from './csp-service.js';
import type { Role } from './users.js';

/** One demo login, in the format of `--credentials-file`. */
export interface DemoCredential {
  username: string;
  password: string;
  role: Role;
  patient_id?: string;
}

function password(): string {
  // 18 random bytes → 24 base64url characters: well over the 12-character minimum.
  return randomBytes(18).toString('base64url');
}

/** Registers the demo users for `patientIds`; returns their credentials. */
export async function createDemoUsers(csp: CspService, patientIds: readonly string[]): Promise<DemoCredential[]> {
  const creds: DemoCredential[] = [];
  const add = async (username: string, role: Role, extra: { patient_id?: string; patients?: string[]; display_name?: string } = {}) => {
    const pw = password();
    await csp.registerUser('bootstrap', { username, password: pw, role, ...extra });
    creds.push({ username, password: pw, role, ...(extra.patient_id ? { patient_id: extra.patient_id } : {}) });
  };
  const share = (k: number, of: number) => patientIds.filter((_, i) => i % of === k);
  await add('admin', 'admin');
  await add('admin2', 'admin');
  for (let d = 0; d < 2; d++) await add(`doctor${d + 1}`, 'doctor', { patients: share(d, 2), display_name: `Doctor ${d + 1}` });
  for (let w = 0; w < 4; w++) await add(`worker${w + 1}`, 'health_worker', { patients: share(w, 4), display_name: `Health worker ${w + 1}` });
  for (const id of patientIds) await add(`patient-${id.toLowerCase()}`, 'patient', { patient_id: id, display_name: `Patient ${id}` });
  return creds;
}
