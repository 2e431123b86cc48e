/** The dashboard shell: login, the session (restored from the refresh cookie on reload), navigation by role. */
import { useCallback, useEffect, useRef, useMemo, useState, type FormEvent } from 'react';
import { ApiClient, errorMessage } from './api.js';
import { ROLE_LABEL, type PatientSummary, type UserView } from './model.js';
import { ErrorBanner, Field, Notice } from './ui.js';
import { PatientView } from './PatientView.js';
import { PatientList } from './PatientList.js';
import { AdminView } from './AdminView.js';
import { AuditView } from './AuditView.js';

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
  // First sign-in of an account an admin made or reset: the code parts from each admin, then one's own password.
  const [enrolling, setEnrolling] = useState(false);
  const [codes, setCodes] = useState(['', '']);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (enrolling) await client.enrol(username.trim(), codes.map((c) => c.trim()).filter((c) => c.length > 0), password);
      else await client.login(username.trim(), password);
      setPassword('');
      setCodes(['', '']);
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
        {enrolling &&
          codes.map((c, i) => (
            <Field key={i} label={`Enrolment code, part ${i + 1}`} hint={i === 0 ? 'From the admin who created or reset your account.' : 'From the admin who approved it.'}>
              <input autoComplete="off" required={i === 0} value={c} onChange={(e) => setCodes((all) => all.map((x, j) => (j === i ? e.target.value : x)))} />
            </Field>
          ))}
        <Field label={enrolling ? 'Your new password' : 'Password'} {...(enrolling ? { hint: 'At least 12 characters; none of the code parts.' } : {})}>
          <input
            name="password"
            type="password"
            autoComplete={enrolling ? 'new-password' : 'current-password'}
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </Field>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : enrolling ? 'Enrol and sign in' : 'Sign in'}
        </button>
        <button type="button" className="link" onClick={() => setEnrolling((v) => !v)}>
          {enrolling ? 'I have a password' : 'First sign-in with an enrolment code'}
        </button>
      </form>
    </main>
  );
}

type View = { kind: 'patients' } | { kind: 'patient'; id: string } | { kind: 'users' } | { kind: 'audit' };

/** The view in the address's fragment (`#/patient/P-001`), so a reload stays on the same page. Never a token. */
function viewFromHash(hash: string): View | null {
  const m = /^#\/(patients|users|audit|patient\/([A-Za-z0-9_.-]{1,64}))$/.exec(hash);
  if (!m) return null;
  if (m[2]) return { kind: 'patient', id: m[2] };
  return { kind: m[1] as 'patients' | 'users' | 'audit' };
}
const hashOf = (v: View) => (v.kind === 'patient' ? `#/patient/${v.id}` : `#/${v.kind}`);

export function App() {
  const [notice, setNotice] = useState<string | null>(null);
  const [me, setMe] = useState<UserView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [restoring, setRestoring] = useState(true);
  const client = useMemo(
    () =>
      new ApiClient({
        onSessionEnd: (reason) => {
          setMe(null);
          // The next user starts on their own default page (a draft typed so far stays in sessionStorage).
          if (reason === 'Logged out.') history.replaceState(null, '', location.pathname + location.search);
          setNotice(reason === 'Logged out.' ? reason : `${reason} What you were typing is kept and will be there after you log in.`);
        },
      }),
    [],
  );
  const [patients, setPatients] = useState<PatientSummary[]>([]);
  const [view, setViewState] = useState<View>(() => viewFromHash(location.hash) ?? { kind: 'patients' });
  const setView = useCallback((v: View) => {
    setViewState(v);
    if (location.hash !== hashOf(v)) history.replaceState(null, '', hashOf(v));
  }, []);
  useEffect(() => {
    const on = () => {
      const v = viewFromHash(location.hash);
      if (v) setViewState(v);
    };
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);

  const loadSession = useCallback(async () => {
    setError(null);
    try {
      const u = await client.me();
      // Patient names for the header (admins also pick assignments from this list).
      const list = u.role === 'patient' ? [] : await client.allPatients().catch(() => []);
      setPatients(list);
      const wanted = viewFromHash(location.hash);
      const allowed = (v: View | null): v is View =>
        v !== null &&
        (u.role === 'admin'
          ? v.kind === 'users' || v.kind === 'audit'
          : u.role === 'patient'
            ? v.kind === 'patient' && v.id === u.patient_id
            : v.kind === 'patients' || v.kind === 'patient');
      setView(
        allowed(wanted)
          ? wanted
          : u.role === 'admin'
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
  }, [client, setView]);

  // A reload keeps the session: the refresh cookie gives a new access token. Once per page load: refresh tokens
  // rotate, and a second exchange of the same cookie would be taken as a stolen token (the family is revoked).
  const restoreStarted = useRef(false);
  useEffect(() => {
    if (restoreStarted.current) return;
    restoreStarted.current = true;
    client
      .restore()
      .then(async (ok) => {
        if (ok) await loadSession();
      })
      // Nothing to restore (no cookie, expired, or the server unreachable): the login form shows.
      .catch(() => undefined)
      .finally(() => setRestoring(false));
  }, [client, loadSession]);

  useEffect(() => {
    document.title = me ? `hrvault — ${me.display_name || me.username}` : 'hrvault dashboard';
  }, [me]);

  if (!me)
    return restoring ? (
      <main className="login">
        <p className="muted">Restoring your session…</p>
      </main>
    ) : (
      <Login client={client} notice={notice} sessionError={error} onLoggedIn={() => void loadSession()} />
    );

  const logout = () => {
    client.logout().catch((err: unknown) => setNotice(`Logged out locally; the server said: ${errorMessage(err)}`));
  };
  const current = view.kind === 'patient' ? patients.find((p) => p.patient_id === view.id) : undefined;
  const tab = (v: View, label: string, active: boolean) => (
    <button type="button" className={active ? 'tab active' : 'tab'} aria-current={active ? 'page' : undefined} onClick={() => setView(v)}>
      {label}
    </button>
  );

  return (
    <div className="shell">
      <header className="topbar no-print">
        <span className="brand">hrvault</span>
        <nav aria-label="Main">
          {me.role === 'admin' && (
            <>
              {tab({ kind: 'users' }, 'Users', view.kind === 'users')}
              {tab({ kind: 'audit' }, 'Audit log', view.kind === 'audit')}
            </>
          )}
          {(me.role === 'doctor' || me.role === 'health_worker') &&
            tab({ kind: 'patients' }, 'Patients', view.kind === 'patients' || view.kind === 'patient')}
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
      {me.role === 'admin' && view.kind === 'audit' && <AuditView client={client} />}
      {me.role !== 'admin' && (
        <main className="content">
          {view.kind === 'patient' ? (
            <>
              {me.role !== 'patient' && (
                <button type="button" className="link back no-print" onClick={() => setView({ kind: 'patients' })}>
                  ← All patients
                </button>
              )}
              <PatientView
                key={view.id}
                client={client}
                me={me}
                patientId={view.id}
                displayName={current?.display_name || (me.role === 'patient' ? me.display_name || view.id : view.id)}
              />
            </>
          ) : (
            <PatientList
              client={client}
              onOpen={(p) => {
                setPatients((list) => (list.some((x) => x.patient_id === p.patient_id) ? list : [...list, p]));
                setView({ kind: 'patient', id: p.patient_id });
              }}
            />
          )}
        </main>
      )}
    </div>
  );
}
