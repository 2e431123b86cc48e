/** The dashboard shell: login, the session (with refresh-token rotation in ApiClient), navigation by role. */
import { useCallback, useEffect, useMemo, useState, type FormEvent } from 'react';
import { ApiClient, errorMessage } from './api.js';
import { ROLE_LABEL, type PatientSummary, type UserView } from './model.js';
import { ErrorBanner, Field, Notice } from './ui.js';
import { PatientView } from './PatientView.js';
import { AdminView } from './AdminView.js';

function Login({
  client,
  onLoggedIn,
  notice,
  sessionError,
}: {
  client: ApiClient;
  onLoggedIn: () => void;
  notice: string | null;
  sessionError: string | null;
}) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await client.login(username.trim(), password);
      setPassword('');
      onLoggedIn();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="login">
      <form className="card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">hrvault</h1>
        <p className="muted">Secure remote cardiac monitoring</p>
        <Notice text={notice} />
        <ErrorBanner error={error ?? sessionError} />
        <Field label="Username">
          <input
            name="username"
            autoComplete="username"
            required
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </Field>
        <Field label="Password">
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </Field>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

type View = { kind: 'patients' } | { kind: 'patient'; id: string } | { kind: 'users' };

export function App() {
  const [notice, setNotice] = useState<string | null>(null);
  const [me, setMe] = useState<UserView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const client = useMemo(
    () =>
      new ApiClient({
        onSessionEnd: (reason) => {
          setMe(null);
          setNotice(reason);
        },
      }),
    [],
  );
  const [patients, setPatients] = useState<PatientSummary[]>([]);
  const [view, setView] = useState<View>({ kind: 'patients' });

  const loadSession = useCallback(async () => {
    setError(null);
    try {
      // Everything is fetched before any of it is shown, so the page never flashes an empty patient list.
      const [u, list] = await Promise.all([client.me(), client.patients()]);
      setPatients(list);
      setView(
        u.role === 'admin'
          ? { kind: 'users' }
          : u.role === 'patient' && u.patient_id
            ? { kind: 'patient', id: u.patient_id }
            : { kind: 'patients' },
      );
      setNotice(null);
      setMe(u);
    } catch (err) {
      setError(errorMessage(err));
    }
  }, [client]);

  useEffect(() => {
    document.title = me ? `hrvault — ${me.display_name || me.username}` : 'hrvault dashboard';
  }, [me]);

  if (!me)
    return (
      <Login client={client} notice={notice} sessionError={error} onLoggedIn={() => void loadSession()} />
    );

  const logout = () => {
    client
      .logout()
      .catch((err: unknown) => setNotice(`Logged out locally; the server said: ${errorMessage(err)}`));
  };
  const current = view.kind === 'patient' ? patients.find((p) => p.patient_id === view.id) : undefined;

  return (
    <div className="shell">
      <header className="topbar">
        <span className="brand">hrvault</span>
        <nav aria-label="Main">
          {me.role === 'admin' && (
            <button
              type="button"
              className={view.kind === 'users' ? 'tab active' : 'tab'}
              onClick={() => setView({ kind: 'users' })}
            >
              Users
            </button>
          )}
          {me.role !== 'patient' && me.role !== 'admin' && (
            <button
              type="button"
              className={view.kind !== 'users' ? 'tab active' : 'tab'}
              onClick={() => setView({ kind: 'patients' })}
            >
              Patients
            </button>
          )}
        </nav>
        <span className="who">
          {me.display_name || me.username} <span className="role">{ROLE_LABEL[me.role]}</span>
        </span>
        <button type="button" className="secondary" onClick={logout}>
          Log out
        </button>
      </header>
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
      {me.role === 'admin' && view.kind === 'users' && <AdminView client={client} patients={patients} />}
      {me.role !== 'admin' && (
        <div className={me.role === 'patient' ? 'layout single' : 'layout'}>
          {me.role !== 'patient' && (
            <aside className="sidebar" aria-label="Patients">
              <h2>My patients</h2>
              {patients.length === 0 && <p className="muted">No patients are assigned to you.</p>}
              <ul className="patient-list">
                {patients.map((p) => (
                  <li key={p.patient_id}>
                    <button
                      type="button"
                      className={
                        view.kind === 'patient' && view.id === p.patient_id ? 'patient active' : 'patient'
                      }
                      aria-current={view.kind === 'patient' && view.id === p.patient_id ? 'page' : undefined}
                      onClick={() => setView({ kind: 'patient', id: p.patient_id })}
                    >
                      <span>{p.display_name || p.patient_id}</span>
                      <span className="muted small">{p.patient_id}</span>
                    </button>
                  </li>
                ))}
              </ul>
            </aside>
          )}
          <main className="content">
            {view.kind === 'patient' ? (
              <PatientView
                key={view.id}
                client={client}
                me={me}
                patientId={view.id}
                displayName={current?.display_name ?? view.id}
              />
            ) : (
              <p className="muted placeholder">
                Choose a patient to see their heart-rate variability, records and prescriptions.
              </p>
            )}
          </main>
        </div>
      )}
    </div>
  );
}
