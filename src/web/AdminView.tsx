/** Administration: the user list, new users, and which patients each clinician is assigned. */
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import type { ApiClient } from './api.js';
import { errorMessage } from './api.js';
import { ROLE_LABEL, parsePatientIds, type PatientSummary, type Role, type UserView } from './model.js';
import { ErrorBanner, Field, Notice } from './ui.js';

function AssignmentEditor({
  client,
  user,
  onSaved,
}: {
  client: ApiClient;
  user: UserView;
  onSaved: (u: UserView) => void;
}) {
  const [text, setText] = useState((user.patients ?? []).join(', '));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      onSaved(await client.setAssignments(user.user_id, parsePatientIds(text)));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="assign" onSubmit={save}>
      <input
        aria-label={`Patients assigned to ${user.username}`}
        value={text}
        onChange={(e) => setText(e.target.value)}
        placeholder="P-001, P-002"
      />
      <button type="submit" className="secondary" disabled={busy}>
        Save
      </button>
      <ErrorBanner error={error} />
    </form>
  );
}

export function AdminView({ client, patients }: { client: ApiClient; patients: PatientSummary[] }) {
  const [users, setUsers] = useState<UserView[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [form, setForm] = useState({
    username: '',
    password: '',
    role: 'doctor' as Role,
    display_name: '',
    patient_id: '',
    patients: '',
  });

  const load = useCallback(async () => {
    try {
      setUsers(
        (await client.users()).sort(
          (a, b) => a.role.localeCompare(b.role) || a.username.localeCompare(b.username),
        ),
      );
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
      const body = {
        username: form.username.trim(),
        password: form.password,
        role: form.role,
        ...(form.display_name.trim() ? { display_name: form.display_name.trim() } : {}),
        ...(form.role === 'patient' ? { patient_id: form.patient_id.trim() } : {}),
        ...((form.role === 'doctor' || form.role === 'health_worker') && form.patients.trim()
          ? { patients: parsePatientIds(form.patients) }
          : {}),
      };
      const u = await client.createUser(body);
      setNotice(`User ${u.username} created.`);
      setForm({
        username: '',
        password: '',
        role: form.role,
        display_name: '',
        patient_id: '',
        patients: '',
      });
      await load();
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [k]: e.target.value }));

  return (
    <main className="content admin">
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
      <Notice text={notice} />
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
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.user_id}>
                  <td>{u.username}</td>
                  <td>{u.display_name}</td>
                  <td>{ROLE_LABEL[u.role]}</td>
                  <td>
                    {u.role === 'patient' && u.patient_id}
                    {(u.role === 'doctor' || u.role === 'health_worker') && (
                      <AssignmentEditor
                        key={`${u.user_id}:${u.version ?? 0}`}
                        client={client}
                        user={u}
                        onSaved={(nu) =>
                          setUsers((list) => list.map((x) => (x.user_id === nu.user_id ? nu : x)))
                        }
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <p className="muted small">
          Known patients: {patients.map((p) => p.patient_id).join(', ') || 'none'}
        </p>
      </section>
      <form className="card" onSubmit={(e) => void create(e)} aria-labelledby="new-user-title">
        <h2 id="new-user-title">New user</h2>
        <div className="row">
          <Field label="Username">
            <input
              required
              minLength={3}
              maxLength={64}
              value={form.username}
              onChange={set('username')}
              autoComplete="off"
            />
          </Field>
          <Field label="Password" hint="At least 12 characters.">
            <input
              required
              type="password"
              value={form.password}
              onChange={set('password')}
              autoComplete="new-password"
            />
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
              <input
                required
                pattern="[A-Za-z0-9_.\-]{1,64}"
                value={form.patient_id}
                onChange={set('patient_id')}
              />
            </Field>
          )}
          {(form.role === 'doctor' || form.role === 'health_worker') && (
            <Field label="Assigned patients" hint="Comma-separated ids.">
              <input value={form.patients} onChange={set('patients')} />
            </Field>
          )}
        </div>
        <button type="submit">Create user</button>
      </form>
    </main>
  );
}
