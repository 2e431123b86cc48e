/**
 * Who may do what: deny by default, decided here and nowhere else. A caller who may not see a patient at
 * all gets "not found" (existence is not revealed); one who may see the patient but not do this gets
 * "forbidden".
 */
import type { DeviceRecord } from './devices.js';
import type { Grant } from './grants.js';
import type { UserRecord } from './users.js';

import type { RecordType } from './vocabulary.js';

export { RECORD_TYPES, type RecordType } from './vocabulary.js';

/**
 * The authenticated caller: a user; a device (a gateway, with its own signing key, that forwards verified
 * results); or the in-process result ingest of older callers (a service principal).
 */
export type Principal =
  | { kind: 'user'; user: UserRecord }
  | { kind: 'device'; device: DeviceRecord }
  | { kind: 'service'; name: 'enclave-ingest' };

export type Decision = 'allow' | 'not_found' | 'forbidden';

// Assignment lists are searched on every list and read: a set per (immutable) user record keeps that O(1).
const assigned = new WeakMap<UserRecord, Set<string>>();
function assignedTo(u: UserRecord): Set<string> {
  let s = assigned.get(u);
  if (!s) {
    s = new Set(u.patients);
    assigned.set(u, s);
  }
  return s;
}

/** True when the caller is in a care or assignment relation with the patient (or is the patient). */
export function canSeePatient(p: Principal, patientId: string): boolean {
  // Devices and services write only; they never read.
  if (p.kind !== 'user') return false;
  const u = p.user;
  // An account that has not enrolled (or whose grant is not approved) holds no access, whatever it lists.
  if (u.enrol !== undefined || u.pending_grant !== undefined) return false;
  switch (u.role) {
    case 'patient':
      return u.patient_id === patientId;
    case 'health_worker':
    case 'doctor':
      return assignedTo(u).has(patientId);
    case 'admin':
      return false;
  }
}

/** May the caller read this patient's records? */
export function decideRead(p: Principal): (patientId: string) => Decision {
  return (patientId) => (canSeePatient(p, patientId) ? 'allow' : 'not_found');
}

const WRITABLE: Record<'health_worker' | 'doctor', readonly RecordType[]> = {
  health_worker: ['vitals', 'note', 'rr_file', 'ecg_file'],
  doctor: ['note', 'prescription', 'alert_ack'],
};

/** What a gateway may append: the records a verified pipeline result becomes. */
const DEVICE_WRITABLE: readonly RecordType[] = ['hrv', 'rr_batch'];

/** May the caller append a record of `type` for the patient? */
export function decideWrite(p: Principal, patientId: string, type: RecordType): Decision {
  if (p.kind === 'service') return type === 'hrv' ? 'allow' : 'forbidden';
  if (p.kind === 'device') {
    // A device is not told whether a patient it does not serve exists.
    if (p.device.revoked || !p.device.patients.includes(patientId)) return 'not_found';
    return DEVICE_WRITABLE.includes(type) ? 'allow' : 'forbidden';
  }
  if (!canSeePatient(p, patientId)) return 'not_found';
  const role = p.user.role;
  if (role === 'health_worker' || role === 'doctor')
    return WRITABLE[role].includes(type) ? 'allow' : 'forbidden';
  return 'forbidden';
}

/** Break-glass: a doctor may read any patient with a stated reason; the access is flagged. */
export function decideBreakGlass(p: Principal, reason: string | undefined): Decision {
  if (p.kind !== 'user' || p.user.role !== 'doctor') return 'forbidden';
  return reason !== undefined && reason.trim().length >= 10 ? 'allow' : 'forbidden';
}

/** Only admins manage users and assignments. */
export function decideAdmin(p: Principal): Decision {
  return p.kind === 'user' && p.user.role === 'admin' ? 'allow' : 'forbidden';
}

/** May the caller forward results as `gateway`? Only that gateway itself, with a live credential. */
export function decideIngest(p: Principal, gateway: string): Decision {
  if (p.kind !== 'device' || p.device.revoked) return 'forbidden';
  return p.device.device_id === gateway ? 'allow' : 'forbidden';
}

/**
 * The two-person rule: may the caller approve grant `g`? Only an admin, never the admin who requested it,
 * never the user the grant is about, and never twice ('self' names the refusals of the rule itself).
 */
export function decideApproval(p: Principal, g: Pick<Grant, 'requested_by' | 'user_id' | 'approvals'>): 'allow' | 'forbidden' | 'self' {
  if (decideAdmin(p) !== 'allow' || p.kind !== 'user') return 'forbidden';
  const me = p.user.user_id;
  return me === g.requested_by || me === g.user_id || g.approvals.includes(me) ? 'self' : 'allow';
}
