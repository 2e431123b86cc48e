/** The audit log for an admin: search, filters, paging, and whether the hash chain verifies. */
import { useEffect, useState } from 'react';
import { errorMessage, type ApiClient, type AuditEntry, type AuditPage } from './api.js';
import { parseLocalDateTime } from './model.js';
import { ErrorBanner, Field, Pager, Time } from './ui.js';

const PAGE = 50;

export function AuditView({ client }: { client: ApiClient }) {
  const [form, setForm] = useState({ q: '', actor: '', action: '', outcome: '', from: '', to: '' });
  const [applied, setApplied] = useState(form);
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<AuditPage>({ total: 0, items: [], verification: null });
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);

  useEffect(() => {
    let stop = false;
    setLoading(true);
    (async () => {
      const from = parseLocalDateTime('From', applied.from);
      const to = parseLocalDateTime('To', applied.to);
      return client.audit({
        q: applied.q.trim() || undefined,
        actor: applied.actor.trim() || undefined,
        action: applied.action.trim() || undefined,
        outcome: applied.outcome || undefined,
        ...(from !== undefined ? { from_ms: from } : {}),
        ...(to !== undefined ? { to_ms: to } : {}),
        offset,
        limit: PAGE,
      });
    })()
      .then((p) => {
        if (stop) return;
        setPage(p);
        setError(null);
      })
      .catch((err: unknown) => !stop && setError(errorMessage(err)))
      .finally(() => !stop && setLoading(false));
    return () => {
      stop = true;
    };
  }, [client, applied, offset]);

  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  const v = page.verification;
  return (
    <main className="content admin">
      <section className="card" aria-labelledby="audit-title">
        <h2 id="audit-title">Audit log</h2>
        <p data-testid="audit-verification" className={v === null ? 'muted' : v.ok ? 'banner ok' : 'banner error'}>
          {v === null
            ? 'Verification status not reported by the server.'
            : v.ok
              ? 'The audit chain verifies: no entry was changed, removed or reordered.'
              : `The audit chain does NOT verify: ${v.problem ?? 'unknown problem'}`}
        </p>
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            setOffset(0);
            setApplied(form);
          }}
        >
          <Field label="Search">
            <input type="search" value={form.q} onChange={set('q')} />
          </Field>
          <Field label="Actor">
            <input value={form.actor} onChange={set('actor')} />
          </Field>
          <Field label="Action">
            <input value={form.action} onChange={set('action')} placeholder="e.g. record.read" />
          </Field>
          <Field label="Outcome">
            <select value={form.outcome} onChange={set('outcome')}>
              <option value="">Any</option>
              <option value="ok">ok</option>
              <option value="denied">denied</option>
              <option value="error">error</option>
            </select>
          </Field>
          <Field label="From">
            <input type="datetime-local" value={form.from} onChange={set('from')} />
          </Field>
          <Field label="To">
            <input type="datetime-local" value={form.to} onChange={set('to')} />
          </Field>
          <button type="submit" className="secondary">
            Apply
          </button>
        </form>
        <ErrorBanner error={error} onDismiss={() => setError(null)} />
        <div className="table-wrap">
          <table className="records" data-testid="audit-log">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Time</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Outcome</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((e: AuditEntry, i) => (
                <tr key={e.seq ?? i} className={e.outcome === 'denied' ? 'has-alert' : undefined}>
                  <td className="num">{e.seq ?? ''}</td>
                  <td className="nowrap">
                    <Time ms={typeof e.t_ms === 'number' ? e.t_ms : null} />
                  </td>
                  <td>{e.actor_name ?? e.actor}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td>{e.target ?? ''}</td>
                  <td>{e.outcome}</td>
                  <td className="small">{e.detail === undefined ? '' : JSON.stringify(e.detail)}</td>
                </tr>
              ))}
              {page.items.length === 0 && (
                <tr>
                  <td colSpan={7} className="muted">
                    {loading ? 'Loading…' : 'No entries match.'}
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
        <Pager offset={offset} pageSize={PAGE} total={page.total} empty="No entries" onOffset={setOffset} />
      </section>
    </main>
  );
}
