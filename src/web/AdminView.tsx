/** Administration: users, new users, assignments picked from existing patients (confirmed before saving), disabling a user, resetting a password. */
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import type { ApiClient, GrantView } from './api.js';
import { errorMessage } from './api.js';
import {
  ROLE_LABEL,
  assignmentChangeWords,
  parsePatientIds,
  unknownPatientIds,
  type PatientSummary,
  type Role,
  type UserView,
} from './model.js';
import { ErrorBanner, Field, Notice } from './ui.js';

/** Picks patients from the known list (search + checkboxes); unknown ids cannot be chosen. */
function PatientPicker({
  patients,
  value,
  onChange,
  label,
}: {
  patients: PatientSummary[];
  value: string[];
  onChange: (ids: string[]) => void;
  label: string;
}) {
  const [q, setQ] = useState('');
  const needle = q.trim().toLowerCase();
  const hits = patients
    .filter((p) => !needle || p.patient_id.toLowerCase().includes(needle) || p.display_name.toLowerCase().includes(needle))
    .slice(0, 50);
  const toggle = (id: string) => onChange(value.includes(id) ? value.filter((x) => x !== id) : [...value, id].sort());
  return (
    <div className="picker" role="group" aria-label={label}>
      <div className="chips">
        {value.length === 0 && <span className="muted small">No patients</span>}
        {value.map((id) => (
          <span key={id} className="chip">
            {id}
            <button type="button" className="link" aria-label={`Remove ${id}`} onClick={() => toggle(id)}>
              ×
            </button>
          </span>
        ))}
      </div>
      <input type="search" aria-label={`Find a patient for ${label}`} placeholder="Find a patient…" value={q} onChange={(e) => setQ(e.target.value)} />
      {needle && (
        <ul className="picker-list">
          {hits.map((p) => (
            <li key={p.patient_id}>
              <label className="inline">
                <input type="checkbox" checked={value.includes(p.patient_id)} onChange={() => toggle(p.patient_id)} />{' '}
                {p.display_name || p.patient_id} <span className="muted small">{p.patient_id}</span>
              </label>
            </li>
          ))}
          {hits.length === 0 && <li className="muted small">No patient matches.</li>}
        </ul>
      )}
    </div>
  );
}

function AssignmentEditor({
  client,
  user,
  patients,
  onSaved,
}: {
  client: ApiClient;
  user: UserView;
  patients: PatientSummary[];
  onSaved: (u: UserView) => void;
}) {
  const [ids, setIds] = useState<string[]>(user.patients ?? []);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const before = user.patients ?? [];
  const changed = JSON.stringify([...before].sort()) !== JSON.stringify([...ids].sort());
  const save = async () => {
    setError(null);
    const unknown = unknownPatientIds(ids, patients);
    if (unknown.length) {
      setError(`Unknown patient id(s): ${unknown.join(', ')}.`);
      return;
    }
    if (!window.confirm(assignmentChangeWords(user.display_name || user.username, before, ids))) return;
    setBusy(true);
    try {
      onSaved(await client.setAssignments(user.user_id, ids));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="assign">
      <PatientPicker patients={patients} value={ids} onChange={setIds} label={`Patients assigned to ${user.username}`} />
      <button type="button" className="secondary" disabled={busy || !changed} onClick={() => void save()}>
        Save
      </button>
      <ErrorBanner error={error} />
    </div>
  );
}

function UserActions({ client, user, onSaved }: { client: ApiClient; user: UserView; onSaved: (u: UserView) => void }) {
  const [pw, setPw] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const toggle = async () => {
    const disable = !user.disabled;
    if (!window.confirm(`${disable ? 'Disable' : 'Enable'} ${user.username}? ${disable ? 'They can no longer log in.' : ''}`)) return;
    try {
      const u = await client.setDisabled(user.user_id, disable);
      onSaved(u && typeof u === 'object' && 'user_id' in u ? u : { ...user, disabled: disable });
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  const reset = async (e: FormEvent) => {
    e.preventDefault();
    if (pw === null) return;
    if (!window.confirm(`Set a new password for ${user.username}?`)) return;
    try {
      await client.resetPassword(user.user_id, pw);
      setPw(null);
      // The old password stops working now; what the admin typed is only their part of the enrolment code.
      setNotice(`${user.username} must enrol again: give them your part; a second admin approves the reset and gives the other.`);
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  return (
    <div className="user-actions">
      <button type="button" className="secondary small-btn" onClick={() => void toggle()}>
        {user.disabled ? 'Enable' : 'Disable'}
      </button>
      {pw === null ? (
        <button type="button" className="secondary small-btn" onClick={() => setPw('')}>
          Reset password
        </button>
      ) : (
        <form onSubmit={(e) => void reset(e)} className="inline-form">
          <input
            type="password"
            autoComplete="new-password"
            aria-label={`New password for ${user.username}`}
            placeholder="New password (12+ characters)"
            minLength={12}
            required
            value={pw}
            onChange={(e) => setPw(e.target.value)}
          />
          <button type="submit" className="small-btn">
            Set
          </button>
          <button type="button" className="link" onClick={() => setPw(null)}>
            Cancel
          </button>
        </form>
      )}
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
      <Notice text={notice} />
    </div>
  );
}

const GRANT_WORDS: Record<GrantView['kind'], string> = { account: 'new account', assign: 'patients added', credential: 'password reset' };

/**
 * Grants waiting for a second admin (the two-person rule). Approving an account or a reset shows this admin's
 * part of the enrolment code once: it goes to the account's holder, never to the admin who asked.
 */
function PendingGrants({ client, onDecided }: { client: ApiClient; onDecided: () => void }) {
  const [grants, setGrants] = useState<GrantView[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setGrants(await client.pendingGrants());
    } catch (err) {
      setError(errorMessage(err));
    }
  }, [client]);
  useEffect(() => {
    void load();
  }, [load]);
  const decide = async (g: GrantView, approve: boolean) => {
    setError(null);
    setNotice(null);
    try {
      if (approve) {
        const out = await client.approveGrant(g.grant_id);
        setNotice(
          out.enrolment_code
            ? `Approved. Give ${g.username} your part of the enrolment code, by a channel of your own: ${out.enrolment_code} (shown once).`
            : `Approved: ${g.username} now has ${g.patients.join(', ')}.`,
        );
      } else {
        await client.rejectGrant(g.grant_id);
        setNotice(`Rejected the ${GRANT_WORDS[g.kind]} for ${g.username}.`);
      }
      await load();
      onDecided();
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  return (
    <section className="card" aria-labelledby="grants-title">
      <h2 id="grants-title">Waiting for a second admin</h2>
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
      <Notice text={notice} />
      {grants.length === 0 ? (
        <p className="muted small">Nothing waits for approval.</p>
      ) : (
        <ul>
          {grants.map((g) => (
            <li key={g.grant_id}>
              {GRANT_WORDS[g.kind]} for <strong>{g.username}</strong> ({g.role}){g.patients.length > 0 && <> — {g.patients.join(', ')}</>}{' '}
              <span className="muted small">asked by {g.requested_by}</span>{' '}
              <button type="button" className="small-btn" onClick={() => void decide(g, true)}>
                Approve
              </button>{' '}
              <button type="button" className="link" onClick={() => void decide(g, false)}>
                Reject
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function AdminView({ client, patients }: { client: ApiClient; patients: PatientSummary[] }) {
  const [users, setUsers] = useState<UserView[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [form, setForm] = useState({ username: '', password: '', role: 'doctor' as Role, display_name: '', patient_id: '' });
  const [newPatients, setNewPatients] = useState<string[]>([]);

  const load = useCallback(async () => {
    try {
      setUsers((await client.users()).sort((a, b) => a.role.localeCompare(b.role) || a.username.localeCompare(b.username)));
    } catch (err) {
      setError(errorMessage(err));
    }
  }, [client]);
  useEffect(() => {
    void load();
  }, [load]);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setNotice(null);
    try {
      if (form.role === 'patient') parsePatientIds(form.patient_id);
      const body = {
        username: form.username.trim(),
        password: form.password,
        role: form.role,
        ...(form.display_name.trim() ? { display_name: form.display_name.trim() } : {}),
        ...(form.role === 'patient' ? { patient_id: form.patient_id.trim() } : {}),
        ...((form.role === 'doctor' || form.role === 'health_worker') && newPatients.length ? { patients: newPatients } : {}),
      };
      const u = await client.createUser(body);
      setNotice(
        u.grant?.state === 'pending'
          ? `User ${u.username} waits for a second admin's approval. The password you chose is only your part of their enrolment code: give it to them yourself.`
          : `User ${u.username} created; they enrol with the password you chose and then set their own.`,
      );
      setForm({ username: '', password: '', role: form.role, display_name: '', patient_id: '' });
      setNewPatients([]);
      await load();
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  const replace = (nu: UserView) => setUsers((list) => list.map((x) => (x.user_id === nu.user_id ? { ...x, ...nu } : x)));

  return (
    <main className="content admin">
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
      <Notice text={notice} />
      <PendingGrants client={client} onDecided={() => void load()} />
      <section className="card" aria-labelledby="users-title">
        <h2 id="users-title">Users</h2>
        <div className="table-wrap">
          <table className="records">
            <thead>
              <tr>
                <th scope="col">Username</th>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Patient / assigned patients</th>
                <th scope="col">Account</th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.user_id} className={u.disabled ? 'disabled' : undefined}>
                  <td>{u.username}</td>
                  <td>{u.display_name}</td>
                  <td>
                    {ROLE_LABEL[u.role]}
                    {u.disabled && <span className="badge">disabled</span>}
                  </td>
                  <td>
                    {u.role === 'patient' && u.patient_id}
                    {(u.role === 'doctor' || u.role === 'health_worker') && (
                      <AssignmentEditor key={`${u.user_id}:${u.version ?? 0}:${(u.patients ?? []).join()}`} client={client} user={u} patients={patients} onSaved={replace} />
                    )}
                  </td>
                  <td>
                    <UserActions client={client} user={u} onSaved={replace} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <form className="card" onSubmit={(e) => void create(e)} aria-labelledby="new-user-title">
        <h2 id="new-user-title">New user</h2>
        <div className="row">
          <Field label="Username">
            <input required minLength={3} maxLength={64} value={form.username} onChange={set('username')} autoComplete="off" />
          </Field>
          <Field label="Password" hint="At least 12 characters.">
            <input required type="password" value={form.password} onChange={set('password')} autoComplete="new-password" />
          </Field>
          <Field label="Role">
            <select value={form.role} onChange={set('role')}>
              {(Object.keys(ROLE_LABEL) as Role[]).map((r) => (
                <option key={r} value={r}>
                  {ROLE_LABEL[r]}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Display name">
            <input maxLength={128} value={form.display_name} onChange={set('display_name')} />
          </Field>
          {form.role === 'patient' && (
            <Field label="Patient id">
              <input required pattern="[A-Za-z0-9_.\-]{1,64}" value={form.patient_id} onChange={set('patient_id')} />
            </Field>
          )}
        </div>
        {(form.role === 'doctor' || form.role === 'health_worker') && (
          <PatientPicker patients={patients} value={newPatients} onChange={setNewPatients} label="Assigned patients" />
        )}
        <button type="submit">Create user</button>
      </form>
    </main>
  );
}
