/** One patient: latest HRV with alerts, trend charts, aggregates, records with filters, live updates, role forms. */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { ApiClient } from './api.js';
import { errorMessage } from './api.js';
import { Chart, type ChartLine } from './Chart.js';
import {
  AGGREGATE_METRICS,
  RECORD_TYPES,
  alertsOf,
  formatValue,
  hasData,
  hrvSeries,
  labelOf,
  latestMeasures,
  matchesFilter,
  recentAlerts,
  mergeRecord,
  parseLocalDateTime,
  recordSummary,
  toLocalDateTime,
  unitOf,
  type AggregateAnswer,
  type ClinicalRecord,
  type RecordType,
  type UserView,
} from './model.js';
import { ErrorBanner, Field, fmtTime } from './ui.js';
import { NoteForm, PrescriptionForm, UploadForm } from './forms.js';

const CHARTS: Array<{ title: string; keys: string[]; lines: ChartLine[] }> = [
  {
    title: 'SDNN and RMSSD',
    keys: ['sdnn_ms', 'rmssd_ms'],
    lines: [
      { label: 'SDNN', color: '#1f6fb2', unit: 'ms' },
      { label: 'RMSSD', color: '#c2410c', unit: 'ms' },
    ],
  },
  {
    title: 'Mean heart rate',
    keys: ['mean_hr_bpm'],
    lines: [{ label: 'Mean HR', color: '#b91c1c', unit: 'bpm' }],
  },
  { title: 'LF/HF ratio', keys: ['lf_hf'], lines: [{ label: 'LF/HF', color: '#6d28d9', unit: '' }] },
  {
    title: 'LF and HF power',
    keys: ['lf_ms2', 'hf_ms2'],
    lines: [
      { label: 'LF', color: '#0f766e', unit: 'ms²' },
      { label: 'HF', color: '#a16207', unit: 'ms²' },
    ],
  },
];

type LiveState = 'connecting' | 'live' | 'offline';

const TYPE_LABEL: Record<RecordType, string> = {
  hrv: 'HRV',
  vitals: 'Vitals',
  note: 'Note',
  rr_file: 'RR file',
  ecg_file: 'ECG file',
  prescription: 'Prescription',
};

function Aggregates({
  client,
  patientId,
  role,
}: {
  client: ApiClient;
  patientId: string;
  role: UserView['role'];
}) {
  const [metric, setMetric] = useState<string>('sdnn_ms');
  const [from, setFrom] = useState(() => toLocalDateTime(Date.now() - 7 * 24 * 3600_000));
  const [to, setTo] = useState(() => toLocalDateTime(Date.now() + 60_000));
  const [answers, setAnswers] = useState<Array<{ scope: string; a: AggregateAnswer }>>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (mine: boolean) => {
    setError(null);
    setBusy(true);
    try {
      const f = parseLocalDateTime('From', from) ?? 0;
      const t = parseLocalDateTime('To', to) ?? Date.now();
      const a = await client.aggregate(mine ? null : patientId, metric, f, t);
      setAnswers((prev) => [{ scope: mine ? 'All my patients' : 'This patient', a }, ...prev].slice(0, 5));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card" aria-labelledby="agg-title">
      <h3 id="agg-title">Encrypted aggregates</h3>
      <p className="muted small">
        Means computed by the storage provider over Paillier-encrypted values, decrypted only here.
      </p>
      <div className="row">
        <Field label="Measure">
          <select value={metric} onChange={(e) => setMetric(e.target.value)}>
            {AGGREGATE_METRICS.map((m) => (
              <option key={m} value={m}>
                {labelOf(m)} ({unitOf(m)})
              </option>
            ))}
          </select>
        </Field>
        <Field label="From">
          <input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
        </Field>
        <Field label="To">
          <input type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
        </Field>
      </div>
      <div className="row">
        <button type="button" disabled={busy} onClick={() => void run(false)}>
          Mean for this patient
        </button>
        {role !== 'patient' && (
          <button type="button" className="secondary" disabled={busy} onClick={() => void run(true)}>
            Mean across my patients
          </button>
        )}
      </div>
      <ErrorBanner error={error} />
      {answers.length > 0 && (
        <table className="compact">
          <thead>
            <tr>
              <th scope="col">Scope</th>
              <th scope="col">Measure</th>
              <th scope="col">Mean</th>
              <th scope="col">Records</th>
              <th scope="col">Patients</th>
            </tr>
          </thead>
          <tbody>
            {answers.map(({ scope, a }, i) => (
              <tr key={i}>
                <td>{scope}</td>
                <td>{labelOf(a.metric)}</td>
                <td className="num">
                  {a.mean === null ? 'no data' : `${formatValue(a.mean)} ${unitOf(a.metric)}`}
                </td>
                <td className="num">{a.n}</td>
                <td className="num">{a.patients}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function PatientView({
  client,
  me,
  patientId,
  displayName,
}: {
  client: ApiClient;
  me: UserView;
  patientId: string;
  displayName: string;
}) {
  const [hrv, setHrv] = useState<ClinicalRecord[]>([]);
  const [records, setRecords] = useState<ClinicalRecord[]>([]);
  const [integrity, setIntegrity] = useState<number>(0);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState<LiveState>('connecting');
  const [loading, setLoading] = useState(true);
  const [typeFilter, setTypeFilter] = useState<RecordType | ''>('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [applied, setApplied] = useState<{ type: RecordType | ''; from_ms?: number; to_ms?: number }>({
    type: '',
  });
  // The live stream reads the current filter through a ref so that changing the filter does not reconnect.
  const appliedRef = useRef(applied);
  appliedRef.current = applied;

  const loadHrv = useCallback(async () => {
    const r = await client.records(patientId, { type: 'hrv', limit: 10000 });
    setHrv(r.records);
  }, [client, patientId]);

  const loadRecords = useCallback(async () => {
    const r = await client.records(patientId, { ...applied, limit: 500 });
    setRecords([...r.records].sort((a, b) => b.t_ms - a.t_ms || b.created_ms - a.created_ms));
    setIntegrity(r.integrity_failures.length);
  }, [client, patientId, applied]);

  useEffect(() => {
    setLoading(true);
    Promise.all([loadHrv(), loadRecords()])
      .then(() => setError(null))
      .catch((err: unknown) => setError(errorMessage(err)))
      .finally(() => setLoading(false));
  }, [loadHrv, loadRecords]);

  // Live updates; reconnects after a dropped stream with a growing pause.
  useEffect(() => {
    const ac = new AbortController();
    let delay = 1000;
    const loop = async () => {
      while (!ac.signal.aborted) {
        setLive('connecting');
        try {
          await client.live(
            patientId,
            (rec) => {
              if (rec.type === 'hrv') setHrv((prev) => mergeRecord(prev, rec, 10000));
              setRecords((prev) =>
                matchesFilter(rec, appliedRef.current) ? mergeRecord(prev, rec, 500) : prev,
              );
            },
            ac.signal,
            () => {
              setLive('live');
              delay = 1000;
            },
          );
        } catch (err) {
          if (ac.signal.aborted) return;
          if (!client.loggedIn) return;
          console.warn('live updates:', errorMessage(err));
        }
        if (ac.signal.aborted) return;
        setLive('offline');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    };
    void loop();
    return () => ac.abort();
  }, [client, patientId]);

  const latest = useMemo(() => latestMeasures(hrv), [hrv]);
  const alerts = useMemo(() => recentAlerts(hrv), [hrv]);
  const series = useMemo(() => CHARTS.map((c) => ({ ...c, data: hrvSeries(hrv, c.keys) })), [hrv]);

  const applyFilter = () => {
    try {
      const f = parseLocalDateTime('From', from);
      const t = parseLocalDateTime('To', to);
      if (f !== undefined && t !== undefined && f >= t) throw new Error('“From” must be before “To”.');
      setApplied({
        type: typeFilter,
        ...(f !== undefined ? { from_ms: f } : {}),
        ...(t !== undefined ? { to_ms: t } : {}),
      });
      setError(null);
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  const added = (rec: ClinicalRecord) => {
    if (rec.type === 'hrv') setHrv((prev) => mergeRecord(prev, rec, 10000));
    setRecords((prev) => (matchesFilter(rec, applied) ? mergeRecord(prev, rec, 500) : prev));
  };

  return (
    <div className="patient-view">
      <div className="patient-head">
        <div>
          <h2>{displayName}</h2>
          <span className="muted">{patientId}</span>
        </div>
        <span className={`live ${live}`} role="status" aria-live="polite">
          <span className="dot" aria-hidden="true" />
          {live === 'live' ? 'Live' : live === 'connecting' ? 'Connecting…' : 'Offline — retrying'}
        </span>
      </div>
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
      {integrity > 0 && (
        <div className="banner error" role="alert">
          {integrity} stored record(s) failed verification and are not shown.
        </div>
      )}

      {alerts.length > 0 && (
        <div className="banner alert" role="alert" aria-label="HRV alerts">
          <strong>Alert{alerts.length > 1 ? 's' : ''} in the latest HRV windows</strong>
          <ul>
            {alerts.map((a, i) => (
              <li key={i}>
                <span className={`sev ${a.severity}`}>{a.severity}</span> {fmtTime(a.t_ms)}: {a.message}
              </li>
            ))}
          </ul>
        </div>
      )}

      <div className="grid">
        <section className="card" aria-labelledby="latest-title">
          <h3 id="latest-title">Latest HRV</h3>
          {latest ? (
            <>
              <p className="muted small">Window at {fmtTime(latest.record.t_ms)}</p>
              <table className="compact measures" data-testid="latest-measures">
                <thead>
                  <tr>
                    <th scope="col">Measure</th>
                    <th scope="col" className="num">
                      Value
                    </th>
                    <th scope="col">Unit</th>
                  </tr>
                </thead>
                <tbody>
                  {latest.rows.map((r) => (
                    <tr key={r.name}>
                      <th scope="row" title={r.name}>
                        {r.label}
                      </th>
                      <td className="num">{r.value}</td>
                      <td>{r.unit}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          ) : (
            <p className="muted">{loading ? 'Loading…' : 'No HRV results yet.'}</p>
          )}
        </section>
        <section className="card charts" aria-labelledby="trend-title">
          <h3 id="trend-title">Trends</h3>
          <div className="chart-grid">
            {series.map((s) =>
              hasData(s.data) ? (
                <Chart key={s.title} title={s.title} data={s.data} lines={s.lines} height={170} />
              ) : null,
            )}
          </div>
          {!series.some((s) => hasData(s.data)) && (
            <p className="muted">{loading ? 'Loading…' : 'No HRV results to chart yet.'}</p>
          )}
        </section>
      </div>

      {(me.role === 'doctor' || me.role === 'health_worker') && (
        <div className="grid">
          {me.role === 'doctor' && <PrescriptionForm client={client} patientId={patientId} onAdded={added} />}
          {me.role === 'health_worker' && (
            <UploadForm client={client} patientId={patientId} onAdded={added} />
          )}
          <NoteForm client={client} patientId={patientId} onAdded={added} />
        </div>
      )}

      <Aggregates client={client} patientId={patientId} role={me.role} />

      <section className="card" aria-labelledby="records-title">
        <h3 id="records-title">{me.role === 'patient' ? 'My records and prescriptions' : 'Records'}</h3>
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            applyFilter();
          }}
        >
          <Field label="Type">
            <select value={typeFilter} onChange={(e) => setTypeFilter(e.target.value as RecordType | '')}>
              <option value="">All types</option>
              {RECORD_TYPES.map((t) => (
                <option key={t} value={t}>
                  {TYPE_LABEL[t]}
                </option>
              ))}
            </select>
          </Field>
          <Field label="From">
            <input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
          </Field>
          <Field label="To">
            <input type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
          </Field>
          <button type="submit" className="secondary">
            Apply
          </button>
        </form>
        <div className="table-wrap scroll">
          <table className="records" data-testid="records">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Type</th>
                <th scope="col">Details</th>
                <th scope="col">By</th>
              </tr>
            </thead>
            <tbody>
              {records.map((r) => {
                const alerts = alertsOf(r);
                return (
                  <tr key={r.id} className={alerts.length > 0 ? 'has-alert' : undefined}>
                    <td className="nowrap">{fmtTime(r.t_ms)}</td>
                    <td>
                      <span className={`tag ${r.type}`}>{TYPE_LABEL[r.type] ?? r.type}</span>
                    </td>
                    <td>
                      {alerts.length > 0 && (
                        <strong className="alert-text">⚠ {alerts.map((a) => a.message).join('; ')} — </strong>
                      )}
                      {recordSummary(r)}
                    </td>
                    <td className="muted small author" title={r.author}>
                      {r.author}
                    </td>
                  </tr>
                );
              })}
              {records.length === 0 && (
                <tr>
                  <td colSpan={4} className="muted">
                    {loading ? 'Loading…' : 'No records match.'}
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}
