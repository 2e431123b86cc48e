/**
 * One patient. Clinicians: the latest window, the live RR tachogram, trends over a chosen period, the
 * selected window's full analysis (computed here by src/hrv from the stored beats), alerts with
 * acknowledgement, role forms and the paged records. Patients: their summary in plain language, trends,
 * active prescriptions and their records.
 */
import { useCallback, useEffect, useMemo, useState } from 'react';
import type { ApiClient } from './api.js';
import { alertHistory, openAlerts } from './alerts.js';
import { analyzeWindow, joinBatches } from './beats.js';
import { useTachogram } from './useTachogram.js';
import { AlertsPanel } from './AlertsPanel.js';
import { Aggregates } from './Aggregates.js';
import { Chart, type ChartLine } from './Chart.js';
import { measuresCsv } from './csv.js';
import { downloadText } from './download.js';
import { fmtAgo, fmtDateTime, fmtDuration, formatValue } from './format.js';
import {
  TREND_PERIODS,
  hasData,
  latestHrv,
  plainSummary,
  measuredSpan,
  rrBatchEntries,
  trendSeries,
  bucketSeries,
  windowWords,
  type HrvEntry,
  type TrendPeriodId,
} from './hrv-model.js';
import type { HrvMeasures, TrendMeasure } from '../contracts/index.js';
import { Tachogram } from './HrvPlots.js';
import { activePrescriptions, authorName, knownNames, recordSummary, type ApiRecord, type UserView } from './model.js';
import { RecordsPanel } from './RecordsPanel.js';
import { ErrorBanner, Field, Time } from './ui.js';
import { usePatientData } from './usePatientData.js';
import { WindowPanel } from './WindowPanel.js';
import { NoteForm, PrescriptionForm, UploadForm } from './forms.js';

const TRENDS: Array<{ title: string; keys: TrendMeasure[]; lines: ChartLine[]; id: string }> = [
  { id: 'hr', title: 'Heart rate', keys: ['mean_hr_bpm'], lines: [{ label: 'Mean HR', color: '#b91c1c', unit: 'bpm' }] },
  {
    id: 'sdnn-rmssd',
    title: 'SDNN and RMSSD',
    keys: ['sdnn_ms', 'rmssd_ms'],
    lines: [
      { label: 'SDNN', color: '#1f6fb2', unit: 'ms' },
      { label: 'RMSSD', color: '#c2410c', unit: 'ms' },
    ],
  },
  { id: 'lfhf', title: 'LF/HF ratio', keys: ['lf_hf'], lines: [{ label: 'LF/HF', color: '#6d28d9', unit: '' }] },
];

const TACHO_PERIODS = [
  { id: '5m', label: '5 min', ms: 5 * 60_000 },
  { id: '30m', label: '30 min', ms: 30 * 60_000 },
  { id: '2h', label: '2 hours', ms: 2 * 3600_000 },
  { id: '6h', label: '6 hours', ms: 6 * 3600_000 },
  { id: '24h', label: '24 hours', ms: 24 * 3600_000 },
] as const;

function LatestCard({ latest, testPrefix = 'latest' }: { latest: HrvEntry | null; testPrefix?: string }) {
  const m = latest?.data.measures ?? null;
  const items: Array<[keyof HrvMeasures, string, string]> = [
    ['mean_hr_bpm', 'Heart rate', 'bpm'],
    ['sdnn_ms', 'SDNN', 'ms'],
    ['rmssd_ms', 'RMSSD', 'ms'],
    ['lf_hf', 'LF/HF', ''],
  ];
  return (
    <section className="card latest" aria-labelledby="latest-title">
      <h3 id="latest-title">Latest HRV</h3>
      {latest ? (
        <>
          <div className="big-numbers" data-testid="latest-measures">
            {items.map(([k, label, unit]) => (
              <div key={k} className="big">
                <span className="big-label">{label}</span>
                <span className="big-value" data-testid={`${testPrefix}-${k}`}>
                  {formatValue(m?.[k] ?? null)}
                </span>
                <span className="big-unit">{unit}</span>
              </div>
            ))}
          </div>
          <p className="muted small">
            Window ending <Time ms={latest.data.t_end_ms} /> — {windowWords(latest.data)}.
          </p>
        </>
      ) : (
        <p className="muted">No HRV results yet.</p>
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
  const [trendPeriod, setTrendPeriod] = useState<TrendPeriodId>('24h');
  const [tachoPeriod, setTachoPeriod] = useState<(typeof TACHO_PERIODS)[number]['id']>('30m');
  const trendMs = TREND_PERIODS.find((p) => p.id === trendPeriod)!.ms;
  const tachoMs = TACHO_PERIODS.find((p) => p.id === tachoPeriod)!.ms;
  const [recordsKey, setRecordsKey] = useState(0);
  const d = usePatientData(client, patientId, trendMs, tachoMs, () => setRecordsKey((k) => k + 1));
  const [selected, setSelected] = useState<{ fromMs: number; toMs: number } | null>(null);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(t);
  }, []);

  const latest = useMemo(() => latestHrv(d.hrv), [d.hrv]);
  const names = useMemo(() => knownNames(me), [me]);
  const alerts = useMemo(() => alertHistory(d.hrv, d.acks, names), [d.hrv, d.acks, names]);
  const clinician = me.role === 'doctor' || me.role === 'health_worker';

  // The tachogram: the last tachoMs of beats up to the newest, cleaned by src/hrv (in a worker when long).
  const tacho = useTachogram(d.beats, tachoMs);

  // The analysed window: a selection, else the window of the latest HRV measures (follows live results; the
  // enclave computes them once a minute of stream and carries them forward, so it is the window they describe).
  const latestSpan = latest ? measuredSpan(latest.data) : null;
  const win = selected ?? (latestSpan ? { fromMs: latestSpan.start_ms, toMs: latestSpan.end_ms } : null);
  const stored = useMemo(
    () => (win ? (d.hrv.find((e) => measuredSpan(e.data).start_ms === win.fromMs && measuredSpan(e.data).end_ms === win.toMs) ?? null) : null),
    [d.hrv, win?.fromMs, win?.toMs],
  );
  const [extraBeats, setExtraBeats] = useState<{ key: string; records: ApiRecord[] } | null>(null);
  const winKey = win ? `${win.fromMs}-${win.toMs}` : '';
  const loadedFrom = d.beats.tMs.length > 0 ? d.beats.tMs[0]! : Infinity;
  const needsFetch = win !== null && win.fromMs < loadedFrom && clinician;
  useEffect(() => {
    if (!needsFetch || !win) return;
    let stop = false;
    client
      // Batches are stored at their last beat: the first ones ending after the window's start hold it
      // (an uploaded file's single batch may end hours later).
      .allRecords(patientId, { type: 'rr_batch', from_ms: win.fromMs, order: 'asc' }, 100)
      .then((r) => !stop && setExtraBeats({ key: winKey, records: r.items }))
      .catch(() => undefined);
    return () => {
      stop = true;
    };
  }, [needsFetch, winKey]);
  const analysis = useMemo(() => {
    if (!win || !clinician) return null;
    let beats = d.beats;
    if (needsFetch) {
      if (!extraBeats || extraBeats.key !== winKey) return null;
      beats = joinFromRecords(extraBeats.records);
    }
    return analyzeWindow(beats, win.fromMs, win.toMs);
  }, [d.beats, winKey, needsFetch, extraBeats, clinician]);

  const trendFrom = (d.anchorMs ?? now) - trendMs;
  const series = useMemo(
    () => TRENDS.map((c) => ({ ...c, data: d.trend ? bucketSeries(d.trend, c.keys) : trendSeries(d.hrv, c.keys, trendFrom) })),
    [d.hrv, d.trend, trendFrom],
  );
  const added = useCallback(
    (rec: ApiRecord) => {
      d.add(rec);
      setRecordsKey((k) => k + 1);
    },
    [d],
  );
  const exportTrend = () =>
    downloadText(`hrv-${patientId}-${trendPeriod}.csv`, measuresCsv(d.hrv.filter((e) => e.data.t_end_ms >= trendFrom)), 'text/csv');

  const trends = (
    <section className="card charts no-print" aria-labelledby="trend-title">
      <div className="card-head">
        <h3 id="trend-title">Trends</h3>
        <div className="row">
          <Field label="Period">
            <select value={trendPeriod} onChange={(e) => setTrendPeriod(e.target.value as TrendPeriodId)}>
              {TREND_PERIODS.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.label}
                </option>
              ))}
            </select>
          </Field>
          {clinician && (
            <button type="button" className="secondary" onClick={exportTrend} disabled={d.hrv.length === 0}>
              Export CSV
            </button>
          )}
        </div>
      </div>
      {d.hrvTotal > d.hrv.length && (
        <p className="muted small" data-testid="trend-downsampled">
          {d.trend
            ? `${d.trend.windows} windows in this period, charted as the mean of each of ${d.trend.buckets.length} intervals of ${fmtDuration(d.trend.bucket_ms)}; the tables and the export hold the newest ${d.hrv.length}.`
            : `Showing the newest ${d.hrv.length} of ${d.hrvTotal} windows in this period.`}
        </p>
      )}
      <div className="chart-grid">
        {series.map((s) =>
          hasData(s.data) ? <Chart key={s.id} title={s.title} data={s.data} lines={s.lines} height={170} testId={`trend-${s.id}`} /> : null,
        )}
      </div>
      {!series.some((s) => hasData(s.data)) && (
        <p className="muted">{d.loading ? 'Loading…' : 'No HRV results in this period.'}</p>
      )}
    </section>
  );

  const head = (
    <div className="patient-head">
      <div>
        <h2>{displayName}</h2>
        <span className="muted">{patientId}</span>
      </div>
      <span className={`live ${d.live}`} role="status" aria-live="polite">
        <span className="dot" aria-hidden="true" />
        {d.live === 'live' ? 'Live' : d.live === 'connecting' ? 'Connecting…' : 'Offline — retrying'}
        {d.anchorMs !== null && <span className="muted small"> · last data {fmtAgo(d.anchorMs, now)}</span>}
      </span>
    </div>
  );
  const invalid =
    d.invalid > 0 ? (
      <div className="banner error" role="alert">
        {d.invalid} record(s) do not have the expected form and are not shown.
      </div>
    ) : null;

  if (me.role === 'patient') {
    const rx = activePrescriptions(d.prescriptions, now);
    return (
      <div className="patient-view">
        {head}
        <ErrorBanner error={d.error} onDismiss={() => d.setError(null)} />
        <section className="card" aria-labelledby="summary-title">
          <h3 id="summary-title">Your summary</h3>
          <div data-testid="plain-summary">
            {plainSummary(latest, openAlerts(alerts).length, fmtDateTime).map((s, i) => (
              <p key={i}>{s}</p>
            ))}
          </div>
        </section>
        <LatestCard latest={latest} />
        {trends}
        <section className="card" aria-labelledby="rx-list-title">
          <h3 id="rx-list-title">Your active prescriptions</h3>
          {rx.length === 0 ? (
            <p className="muted">No active prescriptions.</p>
          ) : (
            <ul className="rx-list" data-testid="prescriptions">
              {rx.map((r) => (
                <li key={r.id}>
                  <strong>{recordSummary(r)}</strong>
                  <span className="muted small">
                    {' '}
                    — prescribed <Time ms={r.t_ms} />
                    {` by ${authorName(r, names)}`}
                  </span>
                </li>
              ))}
            </ul>
          )}
        </section>
        <RecordsPanel client={client} patientId={patientId} title="My records and prescriptions" refreshKey={recordsKey} names={names} />
      </div>
    );
  }

  return (
    <div className="patient-view">
      {head}
      <ErrorBanner error={d.error} onDismiss={() => d.setError(null)} />
      {invalid}
      {openAlerts(alerts).length > 0 && (
        <div className="banner alert no-print" role="alert" aria-label="HRV alerts">
          <strong>Open alerts</strong>
          <ul>
            {openAlerts(alerts)
              .slice(0, 5)
              .map((a) => (
                <li key={a.key}>
                  <Time ms={a.onsetMs} />: {a.words}
                </li>
              ))}
          </ul>
        </div>
      )}
      <div className="grid no-print">
        <LatestCard latest={latest} />
        <section className="card" aria-labelledby="tacho-title">
          <div className="card-head">
            <h3 id="tacho-title">RR tachogram</h3>
            <Field label="Show">
              <select value={tachoPeriod} onChange={(e) => setTachoPeriod(e.target.value as typeof tachoPeriod)}>
                {TACHO_PERIODS.map((p) => (
                  <option key={p.id} value={p.id}>
                    last {p.label}
                  </option>
                ))}
              </select>
            </Field>
          </div>
          {tacho ? (
            <>
              <Tachogram
                data={tacho.data}
                irregular={tacho.irregular}
                window={win}
                onSelect={(fromMs, toMs) => setSelected({ fromMs, toMs })}
              />
              <p className="muted small">
                Red: excluded beats; orange: corrected (missed or extra beats); purple band: irregular rhythm suspected (left uncorrected); yellow: the analysed window. Drag to zoom and analyse a stretch; double-click to zoom out.
                {selected && (
                  <>
                    {' '}
                    <button type="button" className="link" onClick={() => setSelected(null)}>
                      Back to the latest window
                    </button>
                  </>
                )}
              </p>
            </>
          ) : (
            <p className="muted">
              {d.loading ? 'Loading…' : d.beats.tMs.length > 0 ? 'Cleaning the beats…' : 'No beats stored in this period.'}
            </p>
          )}
        </section>
      </div>
      {trends}
      {win && (
        <WindowPanel analysis={analysis} stored={stored} patientLabel={`${displayName} (${patientId})`} fromMs={win.fromMs} toMs={win.toMs} />
      )}
      <div className="no-print">
        <AlertsPanel client={client} patientId={patientId} items={alerts} canAck={me.role === 'doctor'} onAcked={added} />
      </div>
      <div className="grid no-print">
        {me.role === 'doctor' && <PrescriptionForm client={client} patientId={patientId} onAdded={added} />}
        {me.role === 'health_worker' && <UploadForm client={client} patientId={patientId} onAdded={added} />}
        <NoteForm client={client} patientId={patientId} onAdded={added} />
      </div>
      <Aggregates client={client} patientId={patientId} role={me.role} />
      <RecordsPanel
        client={client}
        patientId={patientId}
        title="Records"
        refreshKey={recordsKey}
        names={names}
        onAnalyse={(fromMs, toMs) => {
          setSelected({ fromMs, toMs });
          document.getElementById('window-title')?.scrollIntoView({ behavior: 'smooth' });
        }}
      />
    </div>
  );
}

function joinFromRecords(records: readonly ApiRecord[]) {
  return joinBatches(rrBatchEntries(records).entries);
}
