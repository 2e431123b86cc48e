/** A patient's records, paged by the server, filtered by type and time; each record opens in full. */
import { useCallback, useEffect, useState } from 'react';
import { hrvRecordDataSchema } from '../contracts/index.js';
import { errorMessage, type ApiClient } from './api.js';
import { fmtDateTime, formatValue } from './format.js';
import { cleaningWords, windowWords } from './hrv-model.js';
import {
  RECORD_TYPES,
  TYPE_LABEL,
  authorName,
  parseLocalDateTime,
  recordSummary,
  type ApiRecord,
  type RecordType,
} from './model.js';
import { ErrorBanner, Field, Pager, Time } from './ui.js';
import { MeasureTables } from './WindowPanel.js';

const PAGE = 25;

function RecordDetail({ r, onAnalyse }: { r: ApiRecord; onAnalyse?: (fromMs: number, toMs: number) => void }) {
  if (r.type === 'hrv') {
    const p = hrvRecordDataSchema.safeParse(r.data);
    if (p.success) {
      const d = p.data;
      return (
        <div className="record-detail">
          <p>
            {windowWords(d)}: <Time ms={d.t_start_ms} /> to <Time ms={d.t_end_ms} />.
          </p>
          <p>{cleaningWords(d.cleaning)}</p>
          {onAnalyse && (
            <button type="button" className="secondary" onClick={() => onAnalyse(d.t_start_ms, d.t_end_ms)}>
              Analyse this window
            </button>
          )}
          <MeasureTables measures={d.measures} testIds={false} />
        </div>
      );
    }
  }
  if (r.type === 'rr_batch' || r.type === 'rr_file' || r.type === 'ecg_file') {
    const d = r.data as Record<string, unknown>;
    return (
      <div className="record-detail">
        <dl className="kv">
          {Object.entries(d)
            .filter(([k]) => k !== 'text' && k !== 'beats')
            .map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{typeof v === 'object' ? JSON.stringify(v) : formatValue(v)}</dd>
              </div>
            ))}
        </dl>
        {typeof d.text === 'string' && <pre className="file-head">{d.text.split('\n').slice(0, 12).join('\n')}</pre>}
      </div>
    );
  }
  return (
    <div className="record-detail">
      <dl className="kv">
        {Object.entries(r.data).map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{typeof v === 'object' ? JSON.stringify(v) : formatValue(v)}</dd>
          </div>
        ))}
      </dl>
    </div>
  );
}

export function RecordsPanel({
  client,
  patientId,
  title,
  refreshKey,
  onAnalyse,
  names,
}: {
  client: ApiClient;
  patientId: string;
  title: string;
  /** Author names the page knows (until the API sends author_name). */
  names?: ReadonlyMap<string, string>;
  /** Changes when a record was added, so the first page reloads. */
  refreshKey: number;
  onAnalyse?: (fromMs: number, toMs: number) => void;
}) {
  const [type, setType] = useState<RecordType | ''>('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [applied, setApplied] = useState<{ type: RecordType | ''; from_ms?: number; to_ms?: number }>({ type: '' });
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<{ total: number; items: ApiRecord[] }>({ total: 0, items: [] });
  const [integrity, setIntegrity] = useState(0);
  const [openId, setOpenId] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);

  const load = useCallback(async () => {
    setLoading(true);
    try {
      const p = await client.records(patientId, { ...applied, offset, limit: PAGE, order: 'desc' });
      setPage({ total: p.total, items: p.items });
      setIntegrity(p.integrity_failures);
      setError(null);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setLoading(false);
    }
  }, [client, patientId, applied, offset]);
  useEffect(() => {
    void load();
  }, [load, refreshKey]);

  const apply = () => {
    try {
      const f = parseLocalDateTime('From', from);
      const t = parseLocalDateTime('To', to);
      if (f !== undefined && t !== undefined && f >= t) throw new Error('“From” must be before “To”.');
      setApplied({ type, ...(f !== undefined ? { from_ms: f } : {}), ...(t !== undefined ? { to_ms: t } : {}) });
      setOffset(0);
      setError(null);
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  return (
    <section className="card no-print" aria-labelledby="records-title">
      <h3 id="records-title">{title}</h3>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          apply();
        }}
      >
        <Field label="Type">
          <select value={type} onChange={(e) => setType(e.target.value as RecordType | '')}>
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
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
      {integrity > 0 && (
        <div className="banner error" role="alert">
          {integrity} stored record(s) failed verification and are not shown.
        </div>
      )}
      <div className="table-wrap">
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
            {page.items.map((r) => (
              <RecordRow
                key={r.id}
                r={r}
                open={openId === r.id}
                onToggle={() => setOpenId(openId === r.id ? null : r.id)}
                {...(names ? { names } : {})}
                {...(onAnalyse ? { onAnalyse } : {})}
              />
            ))}
            {page.items.length === 0 && (
              <tr>
                <td colSpan={4} className="muted">
                  {loading ? 'Loading…' : 'No records match.'}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pager offset={offset} pageSize={PAGE} total={page.total} empty="No records" onOffset={setOffset} labels={['← Newer', 'Older →']} />
    </section>
  );
}

function RecordRow({
  r,
  open,
  onToggle,
  onAnalyse,
  names,
}: {
  names?: ReadonlyMap<string, string>;
  r: ApiRecord;
  open: boolean;
  onToggle: () => void;
  onAnalyse?: (fromMs: number, toMs: number) => void;
}) {
  const alerts = r.type === 'hrv' && Array.isArray(r.data.alerts) ? r.data.alerts.length : 0;
  return (
    <>
      <tr className={alerts > 0 ? 'has-alert clickable' : 'clickable'} onClick={onToggle} aria-expanded={open}>
        <td className="nowrap">
          <button type="button" className="link" aria-label={`Open record of ${fmtDateTime(r.t_ms)}`}>
            {open ? '▾' : '▸'}
          </button>{' '}
          <Time ms={r.t_ms} />
        </td>
        <td>
          <span className={`tag ${r.type}`}>{TYPE_LABEL[r.type] ?? r.type}</span>
        </td>
        <td>{recordSummary(r)}</td>
        <td className="author">{authorName(r, names)}</td>
      </tr>
      {open && (
        <tr className="detail-row">
          <td colSpan={4}>
            <RecordDetail r={r} {...(onAnalyse ? { onAnalyse } : {})} />
            <p className="muted small">
              Stored <Time ms={r.created_ms} /> by {authorName(r, names)}.
            </p>
          </td>
        </tr>
      )}
    </>
  );
}
