/** The selected window: full measure tables (computed here by src/hrv from the beats), cleaning summary, the three window plots, CSV and print. */
import type { HrvMeasures } from '../contracts/index.js';
import { PSD_METHOD_NAME, type WindowAnalysis } from './beats.js';
import { measureSetCsv } from './csv.js';
import { fmtDateTime, fmtDuration } from './format.js';
import { MEASURE_GROUPS, cleaningWords, irregularWords, measureRows, type HrvEntry } from './hrv-model.js';
import { PoincarePlot, RrHistogram, Spectrum } from './HrvPlots.js';
import { downloadText } from './download.js';

export function MeasureTables({ measures, testIds = true }: { measures: HrvMeasures | null; testIds?: boolean }) {
  return (
    <div className="measure-tables">
      {MEASURE_GROUPS.map((g) => (
        <table key={g.id} className="compact measures" data-testid={testIds ? `measures-${g.id}` : undefined}>
          <caption>{g.title}</caption>
          <tbody>
            {measureRows(measures, g.names).map((r) => (
              <tr key={r.name}>
                <th scope="row" title={r.hint}>
                  {r.label}
                </th>
                <td className="num" data-testid={testIds ? `measure-${r.name}` : undefined}>
                  {r.value}
                </td>
                <td className="unit">{r.unit}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
    </div>
  );
}

export function WindowPanel({
  analysis,
  stored,
  patientLabel,
  fromMs,
  toMs,
}: {
  /** The browser's analysis of the window's beats; null when no beats are stored for it. */
  analysis: WindowAnalysis | null;
  /** The enclave's record of this window, when the window is one. */
  stored: HrvEntry | null;
  patientLabel: string;
  fromMs: number;
  toMs: number;
}) {
  const measures = analysis?.measures ?? stored?.data.measures ?? null;
  const r = analysis?.cleaned.report;
  const cleaning = r
    ? cleaningWords(r)
    : stored
      ? cleaningWords(stored.data.cleaning)
      : 'No beats stored for this window.';
  const csv = () =>
    measures &&
    downloadText(
      `hrv-${patientLabel}-${new Date(fromMs).toISOString().slice(0, 19).replace(/[:T]/g, '')}.csv`,
      measureSetCsv(measures, fromMs, toMs),
      'text/csv',
    );
  return (
    <section className="card window-panel print-page" aria-labelledby="window-title">
      <div className="card-head">
        <h3 id="window-title">Selected window</h3>
        <div className="row no-print">
          <button type="button" className="secondary" onClick={csv} disabled={!measures}>
            Export CSV
          </button>
          <button type="button" className="secondary" onClick={() => window.print()}>
            Print report
          </button>
        </div>
      </div>
      <p className="print-only report-title">
        hrvault HRV report — {patientLabel} — printed {fmtDateTime(Date.now())}
      </p>
      <p className="muted small" data-testid="window-range">
        {fmtDateTime(fromMs)} to {fmtDateTime(toMs)} ({fmtDuration(toMs - fromMs)}).{' '}
        {analysis
          ? `Measures computed in this browser from ${analysis.cleaned.report.n_input} stored beats by the hrvault HRV core.`
          : stored
            ? 'Measures as computed by the enclave (no beats stored for this window).'
            : ''}
      </p>
      <p className="cleaning" data-testid="cleaning-summary">
        <strong>Correction: </strong>
        {cleaning}
      </p>
      {r && irregularWords(r) && <p className="banner alert">{irregularWords(r)}</p>}
      {!r && stored?.data.af_suspected && (
        <p className="banner alert">Irregular rhythm suspected after ectopic removal: interpret frequency measures with care.</p>
      )}
      <MeasureTables measures={measures} />
      {analysis ? (
        <div className="window-plots">
          <figure className="chart">
            <figcaption>Poincaré plot with the SD1/SD2 ellipse</figcaption>
            <PoincarePlot a={analysis} />
          </figure>
          <figure className="chart">
            <figcaption>NN interval histogram</figcaption>
            <RrHistogram a={analysis} />
          </figure>
          <figure className="chart">
            <figcaption>Power spectrum ({PSD_METHOD_NAME}) — VLF, LF, HF shaded</figcaption>
            <Spectrum a={analysis} />
          </figure>
        </div>
      ) : (
        <p className="muted">The Poincaré plot, histogram and spectrum need the window's beats, which are not stored.</p>
      )}
    </section>
  );
}
