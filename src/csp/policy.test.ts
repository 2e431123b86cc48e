/** The two-person rule's decision, and that an account waiting to enrol sees no patient. */
import { describe, expect, it } from 'vitest';
import { canSeePatient, decideApproval, type Principal } from './policy.js';
import type { UserRecord } from './users.js';

const user = (user_id: string, role: UserRecord['role'], extra: Partial<UserRecord> = {}): Principal => ({
  kind: 'user',
  user: { user_id, username: user_id, role, display_name: user_id, patients: [], verifier: '$argon2id$x', version: 1, created_ms: 0, disabled: false, ...extra },
});

describe('decideApproval (the two-person rule)', () => {
  const grant = { requested_by: 'u-a', user_id: 'u-target', approvals: [] as string[] };
  it('lets another admin approve', () => {
    expect(decideApproval(user('u-b', 'admin'), grant)).toBe('allow');
  });
  it('refuses the requesting admin, the admin the grant is about, and a second approval by the same admin', () => {
    expect(decideApproval(user('u-a', 'admin'), grant)).toBe('self');
    expect(decideApproval(user('u-target', 'admin'), grant)).toBe('self');
    expect(decideApproval(user('u-b', 'admin'), { ...grant, approvals: ['u-b'] })).toBe('self');
  });
  it('refuses anyone who is not an admin', () => {
    expect(decideApproval(user('u-d', 'doctor'), grant)).toBe('forbidden');
    expect(decideApproval({ kind: 'service', name: 'enclave-ingest' }, grant)).toBe('forbidden');
  });
});

describe('canSeePatient for accounts that have not enrolled', () => {
  it('a doctor listing a patient sees nothing while enrolment or approval is pending', () => {
    expect(canSeePatient(user('u-d', 'doctor', { patients: ['P-A'] }), 'P-A')).toBe(true);
    expect(canSeePatient(user('u-d', 'doctor', { patients: ['P-A'], enrol: ['$argon2id$part'] }), 'P-A')).toBe(false);
    expect(canSeePatient(user('u-d', 'doctor', { patients: ['P-A'], pending_grant: 'g-1' }), 'P-A')).toBe(false);
  });
});
