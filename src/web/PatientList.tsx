/** The clinician's patient list: latest heart rate, SDNN, RMSSD, last data and open alerts; searched, sorted and paged by the server. */
import { useEffect, useState } from 'react';
import { errorMessage, type ApiClient, type PatientSort } from './api.js';
import { fmtAgo, formatValue } from './format.js';
import { PATIENT_FILTERS, filterSort, matchesPatientFilter, type PatientFilter } from './patients.js';
import type { PatientSummary } from './model.js';
import { ErrorBanner, Field, Pager, Time } from './ui.js';

const PAGE = 25;

const COLUMNS: Array<{ sort: PatientSort; label: string; num?: boolean }> = [
  { sort: 'name', label: 'Patient' },
  { sort: 'hr', label: 'Heart rate (bpm)', num: true },
  { sort: 'sdnn', label: 'SDNN (ms)', num: true },
  { sort: 'rmssd', label: 'RMSSD (ms)', num: true },
  { sort: 'last_data', label: 'Last data' },
  { sort: 'alerts', label: 'Open alerts', num: true },
];

export function PatientList({ client, onOpen }: { client: ApiClient; onOpen: (p: PatientSummary) => void }) {
  const [q, setQ] = useState('');
  const [debounced, setDebounced] = useState('');
  const [sort, setSort] = useState<PatientSort>('name');
  const [order, setOrder] = useState<'asc' | 'desc'>('asc');
  const [filter, setFilter] = useState<PatientFilter>('all');
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<{ total: number; items: PatientSummary[] }>({ total: 0, items: [] });
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [now, setNow] = useState(Date.now());
  // The list refreshes itself: latest values, last data and open alerts stay current while it is open.
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((k) => k + 1), 30_000);
    return () => clearInterval(t);
  }, []);

  useEffect(() => {
    const t = setTimeout(() => setDebounced(q.trim()), 250);
    return () => clearTimeout(t);
  }, [q]);
  useEffect(() => setOffset(0), [debounced, sort, order, filter]);

  // A filter picks the sort under which its patients come first, so the server's paging still applies.
  const eff = filterSort(filter, sort, order);
  useEffect(() => {
    let stop = false;
    if (tick === 0) setLoading(true);
    client
      .patients({ q: debounced, sort: eff.sort, order: eff.order, offset, limit: PAGE })
      .then((p) => {
        if (stop) return;
        setPage(p);
        setNow(Date.now());
        setError(null);
      })
      .catch((err: unknown) => !stop && setError(errorMessage(err)))
      .finally(() => !stop && setLoading(false));
    return () => {
      stop = true;
    };
  }, [client, debounced, eff.sort, eff.order, offset, tick]);

  const shown = page.items.filter((p) => matchesPatientFilter(p, filter, now));
  const sortBy = (s: PatientSort) => {
    if (s === sort) setOrder(order === 'asc' ? 'desc' : 'asc');
    else {
      setSort(s);
      setOrder(s === 'name' ? 'asc' : 'desc');
    }
  };
  return (
    <section className="card patient-table" aria-labelledby="patients-title">
      <h2 id="patients-title">My patients</h2>
      <div className="row">
        <Field label="Search">
          <input type="search" placeholder="Name or patient id" value={q} onChange={(e) => setQ(e.target.value)} />
        </Field>
        <Field label="Show">
          <select value={filter} onChange={(e) => setFilter(e.target.value as PatientFilter)}>
            {PATIENT_FILTERS.map((f) => (
              <option key={f.id} value={f.id}>
                {f.label}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
      <div className="table-wrap">
        <table className="records" data-testid="patient-list">
          <thead>
            <tr>
              {COLUMNS.map((c) => (
                <th
                  key={c.sort}
                  scope="col"
                  className={c.num ? 'num' : undefined}
                  aria-sort={sort === c.sort ? (order === 'asc' ? 'ascending' : 'descending') : undefined}
                >
                  <button type="button" className="link sort" onClick={() => sortBy(c.sort)}>
                    {c.label} {sort === c.sort ? (order === 'asc' ? '▲' : '▼') : ''}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {shown.map((p) => (
              <tr key={p.patient_id} className={p.open_alerts ? 'has-alert clickable' : 'clickable'} onClick={() => onOpen(p)}>
                <td>
                  <button type="button" className="link patient-link" onClick={() => onOpen(p)}>
                    {p.display_name || p.patient_id}
                  </button>
                  <span className="muted small"> {p.patient_id}</span>
                </td>
                <td className="num">{formatValue(p.latest?.mean_hr_bpm ?? null)}</td>
                <td className="num">{formatValue(p.latest?.sdnn_ms ?? null)}</td>
                <td className="num">{formatValue(p.latest?.rmssd_ms ?? null)}</td>
                <td>
                  {p.last_data_ms ? (
                    <>
                      <Time ms={p.last_data_ms} /> <span className="muted small">({fmtAgo(p.last_data_ms, now)})</span>
                    </>
                  ) : (
                    <span className="muted">no data</span>
                  )}
                </td>
                <td className="num">{p.open_alerts ? <span className="badge alert">{p.open_alerts}</span> : p.open_alerts === 0 ? '0' : '—'}</td>
              </tr>
            ))}
            {shown.length === 0 && (
              <tr>
                <td colSpan={6} className="muted">
                  {loading ? 'Loading…' : 'No patients match.'}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pager offset={offset} pageSize={PAGE} total={page.total} empty="No patients" onOffset={setOffset} moreDisabled={filter !== 'all' && shown.length < page.items.length} />
    </section>
  );
}
