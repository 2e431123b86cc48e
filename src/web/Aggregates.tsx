/** Means the storage provider computes over Paillier-encrypted values (decrypted only at the CSP), for this patient or across the caller's patients. */
import { useState } from 'react';
import { AGGREGATE_METRICS } from '../contracts/index.js';
import { errorMessage, type ApiClient } from './api.js';
import { formatValue } from './format.js';
import { MEASURE_INFO } from './hrv-model.js';
import { parseLocalDateTime, toLocalDateTime, type AggregateAnswer, type UserView } from './model.js';
import { ErrorBanner, Field } from './ui.js';

const labelOf = (m: string) => MEASURE_INFO[m as keyof typeof MEASURE_INFO]?.label ?? m;
const unitOf = (m: string) => MEASURE_INFO[m as keyof typeof MEASURE_INFO]?.unit ?? '';

export function Aggregates({
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
    <section className="card no-print" aria-labelledby="agg-title">
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
