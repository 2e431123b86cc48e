/**
 * `npm run validate`: computes every accuracy table of the HRV core from ../shared/data and writes
 * docs/validation.md. Each table is its own function; one that fails (or whose module is missing) leaves
 * a "not available" note in the document instead of stopping the others. Prints progress to stderr.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as hrv from '../src/hrv/index.js';
import type { HrvMeasures, RrSeries } from '../src/hrv/index.js';
import {
  hasSharedData,
  readBeats,
  readEcg,
  readReferenceHrv,
  readReferenceJson,
  readRrColumn,
  readSharedText,
  SHARED_DATA_DIR,
  ANNOTATED_ECG_RECORDS,
  readEcgRecord,
  readBeatsRecord,
  readOtherAnnotations,
  vfRanges,
} from '../src/test-support/shared-data.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const OUT = join(ROOT, 'docs', 'validation.md');
const REC = ['100', '105', '119'] as const;
type Rec = (typeof REC)[number];

// ---------- helpers ----------

type Json = Record<string, unknown>;
function get(o: unknown, ...path: string[]): unknown {
  let x = o;
  for (const p of path) x = x !== null && typeof x === 'object' ? (x as Json)[p] : undefined;
  return x;
}
function num(o: unknown, ...path: string[]): number | null {
  const v = get(o, ...path);
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function table(head: string[], rows: Array<Array<string | number | null>>): string {
  const cell = (v: string | number | null) => (v === null ? '—' : typeof v === 'number' ? f(v) : v);
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

/** A number with 4 significant digits (fixed notation where sensible). */
function f(v: number | null, digits = 4): string {
  if (v === null || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2);
  return Number(v.toPrecision(digits)).toString();
}
function pct(ours: number | null, ref: number | null): string {
  if (ours === null || ref === null) return '—';
  if (ref === 0) return ours === 0 ? '0%' : '—';
  const d = (100 * (ours - ref)) / Math.abs(ref);
  return `${d >= 0 ? '+' : ''}${d.toFixed(Math.abs(d) < 1 ? 2 : 1)}%`;
}
function relErr(ours: number | null, ref: number | null): number | null {
  if (ours === null || ref === null || ref === 0) return null;
  return Math.abs(ours - ref) / Math.abs(ref);
}
const yes = (ok: boolean) => (ok ? 'yes' : '**no**');

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

const REF = readReferenceHrvSafe();
function readReferenceHrvSafe(): Json {
  return hasSharedData() ? (readReferenceHrv() as Json) : {};
}

interface Section {
  title: string;
  run: () => string | Promise<string>;
}

// ---------- shared computations (cached) ----------

const ecgCache = new Map<Rec, { fsHz: number; peaks: Int32Array; labels: hrv.BeatLabel[]; ms: number }>();
function detected(rec: Rec): { fsHz: number; peaks: Int32Array; labels: hrv.BeatLabel[]; ms: number } {
  let d = ecgCache.get(rec);
  if (!d) {
    const { mv, fsHz } = readEcg(rec);
    const t0 = performance.now();
    const peaks = hrv.detectEcgBeats(mv, fsHz);
    const ms = performance.now() - t0;
    const labels = hrv.labelBeats(mv, fsHz, peaks);
    d = { fsHz, peaks, labels, ms };
    ecgCache.set(rec, d);
  }
  return d;
}

const nnCache = new Map<string, RrSeries>();
function annotationNn(rec: Rec | 'nsr001'): RrSeries {
  let s = nnCache.get(rec);
  if (!s) {
    // Beat times from the exact sample numbers (the t_s column is rounded to µs), so that intervals that are
    // whole multiples of the sampling period stay exact: a 50 ms difference must not become 50.0000004 ms.
    const fsHz = rec === 'nsr001' ? 128 : 360;
    const beats = readBeats(rec).map((b) => ({ tS: b.sample / fsHz, symbol: b.symbol }));
    s = hrv.nnSeriesFromBeats(beats, rec === 'nsr001' ? { originS: beats[0]!.tS } : {});
    nnCache.set(rec, s);
  }
  return s;
}

/** The reference windows: [record, window key, from s, to s]. */
const WINDOWS: Array<[Rec | 'nsr001', string, number, number]> = [
  ['100', 'first_5min', 0, 300],
  ['100', 'whole', 0, 1e9],
  ['105', 'first_5min', 0, 300],
  ['105', 'whole', 0, 1e9],
  ['119', 'first_5min', 0, 300],
  ['119', 'whole', 0, 1e9],
  ['nsr001', '0_300s', 0, 300],
  ['nsr001', '30_330s', 30, 330],
  ['nsr001', '60_360s', 60, 360],
];
const windowLabel = (rec: string, w: string) => `${rec} ${w.replace('first_5min', '0–300 s').replace(/^(\d+)_(\d+)s$/, '$1–$2 s')}`;

const measureCache = new Map<string, HrvMeasures>();
function measures(rec: Rec | 'nsr001', key: string, from: number, to: number, psd: 'welch' | 'lomb' = 'welch'): HrvMeasures {
  const k = `${rec}/${key}/${psd}`;
  let m = measureCache.get(k);
  if (!m) {
    m = hrv.analyze(hrv.windowOf(annotationNn(rec), from, to), psd);
    measureCache.set(k, m);
  }
  return m;
}
function refWindow(rec: string, key: string, source = 'NN'): Json {
  return get(REF, 'records', rec, 'windows', key, source) as Json;
}

// ---------- tables ----------

const detectionSection: Section = {
  title: 'ECG beat detection (MIT-BIH 100, 105, 119)',
  run() {
    const det = readReferenceJson('detector_reference.json');
    const rows: Array<Array<string | number | null>> = [];
    for (const rec of REC) {
      log(`  detection ${rec}`);
      const { fsHz, peaks } = detected(rec);
      const beats = readBeats(rec);
      const m = hrv.matchBeats(
        beats.map((b) => b.sample),
        peaks,
        Math.round(0.15 * fsHz),
      );
      const offMs = (hrv.median(m.offsets) * 1000) / fsHz;
      const nk = get(det, 'results', 'neurokit', 'records', rec, 'whole');
      const pt = get(det, 'results', 'pantompkins1985', 'records', rec, 'whole');
      const target = rec === '105' ? 0.995 : 0.998;
      rows.push([
        rec,
        beats.length,
        `${m.sensitivity.toFixed(4)} / ${m.ppv.toFixed(4)}`,
        `${m.fn} / ${m.fp}`,
        `${offMs.toFixed(1)} ms`,
        `${num(nk, 'sensitivity')?.toFixed(4)} / ${num(nk, 'positive_predictivity')?.toFixed(4)}`,
        `${num(pt, 'sensitivity')?.toFixed(4)} / ${num(pt, 'positive_predictivity')?.toFixed(4)}`,
        `≥ ${target}: ${yes(m.sensitivity >= target && m.ppv >= target && Math.abs(offMs) <= 10)}`,
      ]);
    }
    return (
      'One-to-one matching within 150 ms (54 samples) against **all** annotated beats of the whole 30-minute record, ' +
      'closest pairs first (`matchBeats`). Offset = median of detected − annotated R-peak time. ' +
      'NeuroKit2 columns: `ecg_clean` + `ecg_peaks` with its default detector and with its Pan–Tompkins, from `detector_reference.json`. ' +
      'Detection times: the next section (from `npm run bench`).\n\n' +
      table(['record', 'beats', 'Se / +P (ours)', 'missed / false', 'median offset', 'NeuroKit2 default Se / +P', 'NeuroKit2 Pan–Tompkins Se / +P', 'target'], rows)
    );
  },
};

const labelSection: Section = {
  title: 'Ventricular ectopic beats (labels N/V against the annotations)',
  run() {
    const rows: Array<Array<string | number | null>> = [];
    for (const rec of ['105', '119'] as const) {
      const { fsHz, peaks, labels } = detected(rec);
      const beats = readBeats(rec);
      const m = hrv.matchBeats(
        beats.map((b) => b.sample),
        peaks,
        Math.round(0.15 * fsHz),
      );
      const s = hrv.scoreLabel(
        m,
        beats.map((b) => b.symbol),
        labels,
        'V',
      );
      rows.push([
        rec,
        beats.filter((b) => b.symbol === 'V').length,
        labels.filter((l) => l === 'V').length,
        s.tp,
        s.fn,
        s.fp,
        s.sensitivity.toFixed(4),
        s.ppv.toFixed(4),
        yes(s.sensitivity >= 0.95 && s.ppv >= 0.95),
      ]);
    }
    return (
      'Scored on matched beats (`scoreLabel`): an annotated `V` labelled N is missed, a beat labelled V whose annotation is not `V` is false.\n\n' +
      table(['record', 'annotated V', 'labelled V', 'TP', 'FN', 'FP', 'Se', '+P', 'Se, +P ≥ 0.95'], rows)
    );
  },
};

const ownNnSection: Section = {
  title: 'HRV from our own beats and labels (record 119) against the annotation NN series',
  run() {
    const { fsHz, peaks, labels } = detected('119');
    const own = hrv.nnSeriesFromBeats(Array.from(peaks, (p, i) => ({ tS: p / fsHz, symbol: labels[i]! })));
    const rows: Array<Array<string | number | null>> = [];
    for (const [key, from, to] of [
      ['first_5min', 0, 300],
      ['whole', 0, 1e9],
    ] as const) {
      const ours = hrv.timeDomain(hrv.windowOf(own, from, to));
      const ann = hrv.timeDomain(hrv.windowOf(annotationNn('119'), from, to));
      const nk = get(refWindow('119', key), 'neurokit2', 'time');
      for (const [name, o, a, n] of [
        ['SDNN', ours.sdnn_ms, ann.sdnn_ms, num(nk, 'SDNN')],
        ['RMSSD', ours.rmssd_ms, ann.rmssd_ms, num(nk, 'RMSSD')],
        ['mean NN', ours.mean_nn_ms, ann.mean_nn_ms, num(nk, 'MeanNN')],
      ] as const) {
        const e = relErr(o, a);
        rows.push([windowLabel('119', key), name, o, a, n, pct(o, a), name === 'mean NN' ? '' : yes(e !== null && e <= 0.05)]);
      }
    }
    return (
      'NN series = intervals whose two beats we labelled N (gaps where a beat is V), exactly as the reference builds its NN series from the annotations.\n\n' +
      table(['window', 'measure (ms)', 'ours (own beats)', 'annotation NN (ours)', 'annotation NN (NeuroKit2)', 'Δ vs annotation', 'within 5%'], rows)
    );
  },
};

const KUBIOS: Record<string, Record<string, [number, number] | undefined>> = {
  // NeuroKit2 signal_fixpeaks(method='Kubios', iterative=True) on all annotated beats (data README).
  '119': { first_5min: [267.9, 489.6], whole: [256.7, 463.8] },
  '105': {},
};

/** Why 105's whole-record figures differ: the annotation NN series itself keeps a few double-length intervals. */
function note105(): string {
  const nn = annotationNn('105');
  const med = hrv.median(nn.rrMs);
  const keep = Array.from(nn.rrMs, (v) => v < 1.6 * med);
  const long = Array.from(nn.rrMs).filter((v) => v >= 1.6 * med);
  const filtered = { tMs: nn.tMs.filter((_, i) => keep[i]), rrMs: nn.rrMs.filter((_, i) => keep[i]) };
  const td = hrv.timeDomain(filtered);
  const cleaned = hrv.timeDomain(hrv.cleanRr(hrv.rrAllSeriesFromBeats(readBeats('105')), { method: 'auto' }).series);
  return (
    `the annotation NN series keeps ${long.length} intervals of ${long.map((v) => v.toFixed(0)).join(', ')} ms, about twice the ` +
    `median of ${med.toFixed(0)} ms (beats not annotated in noise); alone they double its RMSSD. Without them the NN series gives ` +
    `SDNN ${f(td.sdnn_ms)} / RMSSD ${f(td.rmssd_ms)} ms, and the cleaned RR_all ${f(cleaned.sdnn_ms)} / ${f(cleaned.rmssd_ms)} ms ` +
    `(${pct(cleaned.sdnn_ms, td.sdnn_ms)}, ${pct(cleaned.rmssd_ms, td.rmssd_ms)}): the cleaner splits those intervals as missed beats.`
  );
}

const cleaningSection: Section = {
  title: 'RR-only cleaning (every annotated interval, `RR_all`) against the NN series',
  run() {
    const rows: Array<Array<string | number | null>> = [];
    const reports: string[] = [];
    for (const rec of ['119', '105'] as const) {
      const all = hrv.rrAllSeriesFromBeats(readBeats(rec));
      const { series, report } = hrv.cleanRr(all, { method: 'auto' });
      reports.push(
        `${rec}: ${report.n_input} intervals, ${report.n_kept} kept (${report.n_corrected} corrected), ${report.n_excluded} excluded ` +
          `(${report.n_out_of_range} out of range, ${report.n_ectopic} ectopic, ${report.n_artefact} artefact)`,
      );
      for (const [key, from, to] of [
        ['first_5min', 0, 300],
        ['whole', 0, 1e9],
      ] as const) {
        const ours = hrv.timeDomain(hrv.windowOf(series, from, to));
        const raw = hrv.timeDomain(hrv.windowOf(all, from, to));
        const nn = get(refWindow(rec, key), 'neurokit2', 'time');
        const kub = KUBIOS[rec]?.[key];
        for (const [name, o, r, n, k] of [
          ['SDNN', ours.sdnn_ms, raw.sdnn_ms, num(nn, 'SDNN'), kub?.[0] ?? null],
          ['RMSSD', ours.rmssd_ms, raw.rmssd_ms, num(nn, 'RMSSD'), kub?.[1] ?? null],
        ] as const) {
          const e = relErr(o, n);
          rows.push([windowLabel(rec, key), name, r, o, n, k, pct(o, n), rec === '119' ? yes(e !== null && e <= 0.1) : 'report']);
        }
      }
    }
    return (
      '`cleanRr(RR_all, {method: "auto"})` sees only the intervals (no labels, no ECG). Its report:\n\n' +
      reports.map((r) => `- ${r}`).join('\n') +
      '\n\n' +
      table(['window', 'measure (ms)', 'RR_all, no cleaning', 'ours, cleaned', 'NN (NeuroKit2)', 'NeuroKit2 Kubios-method correction', 'Δ vs NN', 'within 10%'], rows) +
      '\n\nThe Kubios-method figures are NeuroKit2 0.2.12 `signal_fixpeaks(method="Kubios", iterative=True)` on all annotated beats of 119 (data README); on frequent ectopy (bigeminy) it corrects almost nothing.' +
      `\n\n105, whole record: ${note105()}`
    );
  },
};

// NeuroKit2's hrv_nonlinear (0.2.12) computes DFA_alpha1 over 4–11 beats and DFA_alpha2 over 12 to
// (N + 1)/10 beats by default, and the reference values were made that way, although the data README
// says 4–16 / 16–64. Our reported α1/α2 follow the Task Force's 4–16 / 16–64; the NeuroKit2 comparison
// runs our DFA on NeuroKit2's scales.
const MEASURES: Array<{
  ours: keyof HrvMeasures;
  nk: [string, string];
  tol: number;
  label: string;
  compute?: (s: RrSeries) => number | null;
}> = [
  { ours: 'mean_nn_ms', nk: ['time', 'MeanNN'], tol: 0.005, label: 'MeanNN' },
  { ours: 'sdnn_ms', nk: ['time', 'SDNN'], tol: 0.005, label: 'SDNN' },
  { ours: 'rmssd_ms', nk: ['time', 'RMSSD'], tol: 0.005, label: 'RMSSD' },
  { ours: 'sdsd_ms', nk: ['time', 'SDSD'], tol: 0.005, label: 'SDSD' },
  { ours: 'pnn50_pct', nk: ['time', 'pNN50'], tol: 0.005, label: 'pNN50*' },
  { ours: 'pnn20_pct', nk: ['time', 'pNN20'], tol: 0.005, label: 'pNN20*' },
  { ours: 'hti', nk: ['time', 'HTI'], tol: 0.005, label: 'HTI' },
  { ours: 'tinn_ms', nk: ['time', 'TINN'], tol: Infinity, label: 'TINN' },
  { ours: 'sd1_ms', nk: ['nonlinear', 'SD1'], tol: 0.005, label: 'SD1' },
  { ours: 'sd2_ms', nk: ['nonlinear', 'SD2'], tol: 0.005, label: 'SD2' },
  { ours: 'sampen', nk: ['nonlinear', 'SampEn'], tol: 0.03, label: 'SampEn' },
  { ours: 'dfa_alpha1', nk: ['nonlinear', 'DFA_alpha1'], tol: Infinity, label: 'DFA α1 (4–16, reported)' },
  {
    ours: 'dfa_alpha1',
    nk: ['nonlinear', 'DFA_alpha1'],
    tol: 0.05,
    label: 'DFA α1 on NeuroKit2 scales (4–11)',
    compute: (s) => hrv.dfaAlpha(s.rrMs, hrv.dfaScales(4, 11)),
  },
  { ours: 'dfa_alpha2', nk: ['nonlinear', 'DFA_alpha2'], tol: Infinity, label: 'DFA α2 (16–64, reported)' },
  {
    ours: 'dfa_alpha2',
    nk: ['nonlinear', 'DFA_alpha2'],
    tol: 0.05,
    label: 'DFA α2 on NeuroKit2 scales (12–N/10)',
    compute: (s) => hrv.dfaAlpha(s.rrMs, hrv.dfaScales(12, Math.floor((s.rrMs.length + 1) / 10))),
  },
];

const timeNonlinearSection: Section = {
  title: 'Time-domain, Poincaré, SampEn and DFA on the annotation NN series against NeuroKit2',
  run() {
    const rows: Array<Array<string | number | null>> = [];
    const worst = new Map<string, number>();
    for (const [rec, key, from, to] of WINDOWS) {
      log(`  measures ${rec} ${key}`);
      const m = measures(rec, key, from, to);
      const nk = get(refWindow(rec, key), 'neurokit2');
      const series = hrv.windowOf(annotationNn(rec), from, to);
      const nd = hrv.successiveDifferences(series).length;
      const row: Array<string | number | null> = [windowLabel(rec, key)];
      for (const x of MEASURES) {
        let ours = x.compute ? x.compute(series) : m[x.ours];
        // NeuroKit2 divides pNNx by (number of differences + 1); ours divides by the number of differences.
        if (ours !== null && x.ours.startsWith('pnn')) ours = (ours * nd) / (nd + 1);
        const ref = num(nk, ...x.nk);
        const e = relErr(ours, ref);
        if (e !== null && Number.isFinite(x.tol)) worst.set(x.label, Math.max(worst.get(x.label) ?? 0, e));
        row.push(ours === null ? `— / ${f(ref)}` : `${f(ours)} (${pct(ours, ref)})`);
      }
      rows.push(row);
    }
    const summary = MEASURES.filter((x) => Number.isFinite(x.tol)).map((x) => {
      const w = worst.get(x.label);
      return [x.label, w === undefined ? null : `${(100 * w).toFixed(2)}%`, `${(100 * x.tol).toFixed(1)}%`, w === undefined ? '—' : yes(w <= x.tol)];
    });
    return (
      'Each cell: our value (difference from NeuroKit2 0.2.12 on the same NN series with gaps, `reference_hrv.json`). ' +
      '\\* pNN50/pNN20 are shown on NeuroKit2\'s denominator (number of differences + 1); hrvault itself reports them per successive difference, as pyHRV and hrv-analysis do. ' +
      'Beat times are the annotations\' sample numbers divided by the sampling rate (360 Hz; nsr001 128 Hz), as NeuroKit2 received them: ' +
      'the files\' rounded `t_s` column would move intervals that are exact multiples of the sampling period (e.g. a 50 ms difference, or a 1/128 s histogram bin edge) to either side of a threshold. ' +
      'TINN has no target (NeuroKit2 often returns 0: its fit never improves on its initial error bound). ' +
      'DFA: hrvault reports α1 over 4–16 beats and α2 over 16–64 (Task Force; the issue\'s definition); the reference values were computed with NeuroKit2\'s default scales (α1 4–11, α2 12 to (N + 1)/10) although the data README says 4–16 / 16–64, so the comparison columns run our DFA on those scales.\n\n' +
      table(['window', ...MEASURES.map((x) => x.label)], rows) +
      '\n\nWorst relative difference over the windows above:\n\n' +
      table(['measure', 'worst |Δ|', 'target', 'met'], summary)
    );
  },
};

const knownBandsSection: Section = {
  title: 'Band powers with known answers: EC57 test patterns and synthetic series',
  run() {
    const rows: Array<Array<string | number | null>> = [];
    const ec = get(REF, 'ec57_test_patterns', 'patterns') as Json;
    const expected: Record<string, [keyof HrvMeasures, string, number][]> = {
      tp2: [['hf_ms2', 'HF', 612.5]],
      tp3: [['lf_ms2', 'LF', 2450]],
      tp4: [['vlf_ms2', 'VLF', 39200]],
      tp5: [
        ['vlf_ms2', 'VLF', 0],
        ['lf_ms2', 'LF', 0],
        ['hf_ms2', 'HF', 0],
      ],
    };
    for (const tp of ['tp2', 'tp3', 'tp4', 'tp5']) {
      log(`  EC57 ${tp}`);
      const series = hrv.seriesFromIntervals(readRrColumn(`rr_ec57_${tp}.csv.gz`));
      const welch = hrv.frequencyDomain(series, 'welch');
      const lomb = hrv.frequencyDomain(series, 'lomb');
      for (const [k, band, want] of expected[tp]!) {
        const nk = num(ec, tp, 'neurokit2', 'frequency_welch_ms2', band);
        const ok = (v: number | null) => v !== null && (want === 0 ? v < 1 : Math.abs(v - want) / want <= 0.02);
        rows.push([`EC57 ${tp.toUpperCase()} (24 h)`, band, want, welch[k], pct(welch[k], want), lomb[k], pct(lomb[k], want), nk, pct(nk, want), yes(ok(welch[k]) && ok(lomb[k]))]);
      }
    }
    const syn = get(REF, 'synthetic', 'series') as Json;
    for (const name of Object.keys(syn)) {
      const s = syn[name] as Json;
      const rr = get(s, 'rr_ms') as number[];
      const exp = get(s, 'expected') as Json;
      const series = hrv.seriesFromIntervals(rr);
      const welch = hrv.frequencyDomain(series, 'welch');
      const lomb = hrv.frequencyDomain(series, 'lomb');
      for (const [k, band] of [
        ['lf_ms2', 'LF'],
        ['hf_ms2', 'HF'],
      ] as const) {
        const want = num(exp, `${band}_ms2`);
        if (want === null) continue;
        const nk = num(s, 'neurokit2', 'frequency_welch_ms2', band);
        // A beat-sampled sine is not a pure tone (the beat times depend on the RR values), so an empty band
        // holds a trace of power: it must stay below 1% of the LF + HF power (the reference's concentration rule).
        const total = (num(exp, 'LF_ms2') ?? 0) + (num(exp, 'HF_ms2') ?? 0);
        const ok = (v: number | null) => v !== null && (want === 0 ? v < Math.max(1, 0.01 * total) : Math.abs(v - want) / want <= 0.02);
        rows.push([name, band, want, welch[k], pct(welch[k], want), lomb[k], pct(lomb[k], want), nk, pct(nk, want), yes(ok(welch[k]) && ok(lomb[k]))]);
      }
    }
    return (
      'Whole series (EC57: about 24 h; synthetic: 300 or 600 s). Targets: within 2% of the known power; TP5 and the constant series ≈ 0 (below 1 ms²); ' +
      'the empty band of a synthetic sine below 1% of its LF + HF power (a sine sampled at beats that it itself spaces is not a pure tone). ' +
      'NeuroKit2 column: its Welch in ms² (`frequency_welch_ms2`).\n\n' +
      table(['series', 'band', 'known ms²', 'Welch', 'Δ', 'Lomb', 'Δ', 'NeuroKit2', 'Δ', 'within 2%'], rows)
    );
  },
};

const realFrequencySection: Section = {
  title: 'Frequency domain on real data beside NeuroKit2, pyHRV and hrv-analysis',
  run() {
    const rows: Array<Array<string | number | null>> = [];
    for (const [rec, key, from, to] of WINDOWS) {
      const w = measures(rec, key, from, to, 'welch');
      const l = measures(rec, key, from, to, 'lomb');
      const r = refWindow(rec, key);
      const nk = get(r, 'neurokit2', 'frequency_welch_ms2');
      const nk4 = get(r, 'neurokit2', 'frequency_welch_4hz_ms2');
      const py = get(r, 'pyhrv', 'welch', 'fft_abs') as number[] | undefined;
      const ha = get(r, 'hrv_analysis', 'frequency_welch_4hz_linear');
      rows.push([
        windowLabel(rec, key),
        `${f(w.lf_ms2)} / ${f(w.hf_ms2)}`,
        `${f(l.lf_ms2)} / ${f(l.hf_ms2)}`,
        `${f(num(nk, 'LF'))} / ${f(num(nk, 'HF'))}`,
        `${f(num(nk4, 'LF'))} / ${f(num(nk4, 'HF'))}`,
        py ? `${f(py[2] ?? null)} / ${f(py[3] ?? null)}` : '—',
        ha ? `${f(num(ha, 'lf'))} / ${f(num(ha, 'hf'))}` : '—',
        `${f(w.lf_hf)} / ${f(l.lf_hf)} / ${f(num(nk, 'LFHF'))}`,
      ]);
    }
    return (
      'LF / HF in ms² for the NN series (with gaps) of each reference window. No target: the tools disagree with each other because they ' +
      'make different choices, and none of them is "the" answer on real data. What hrvault computes, step by step, and why each tool ' +
      'differs, is in [frequency-domain.md](frequency-domain.md). In short:\n\n' +
      '- **hrvault Welch**: gaps never bridged (each contiguous run analysed on its own), natural cubic spline at 4 Hz, linear detrend per segment, Hann, segments up to 600 s; ' +
      'a band is null when no segment spans one period of its lowest frequency (so no VLF in 5 minutes, and no LF for 119\'s first 5 minutes, whose NN runs are short).\n' +
      '- **hrvault Lomb**: Lomb–Scargle on the uneven beats, no interpolation, same segmenting.\n' +
      '- **NeuroKit2** (`hrv_frequency`, `normalize=False`): quadratic interpolation at 100 Hz (or 4 Hz), mean removed, Welch with 50 s segments for a 5-minute window; gaps collapsed.\n' +
      '- **pyHRV** `welch_psd`: plain list of kept intervals (gaps collapsed), cubic interpolation at 4 Hz, detrend, Hamming, nfft 4096.\n' +
      '- **hrv-analysis**: gaps collapsed, **linear** interpolation at 4 Hz (attenuates HF), Hann, 256-sample (64 s) segments.\n\n' +
      table(['window', 'hrvault Welch LF / HF', 'hrvault Lomb LF / HF', 'NeuroKit2 (100 Hz) LF / HF', 'NeuroKit2 (4 Hz) LF / HF', 'pyHRV LF / HF', 'hrv-analysis LF / HF', 'LF/HF: Welch / Lomb / NeuroKit2'], rows)
    );
  },
};

const ppgSection: Section = {
  title: 'Camera PPG (Welltory) against the Polar H10 chest strap',
  run() {
    const ref = readReferenceJson('ppg_reference.json');
    const rows: Array<Array<string | number | null>> = [];
    let closerMean = 0;
    let closerRmssd = 0;
    for (let s = 1; s <= 10; s++) {
      const id = `s${String(s).padStart(2, '0')}`;
      const nk = get(ref, 'subjects', id) as Json;
      const name = `ppg_welltory_${id}.csv`;
      const text = readSharedText(name);
      const chans = Object.fromEntries(['R', 'G', 'B'].map((c) => [c, hrv.parseSignalText(text, name, { column: c })]));
      const tS = chans['R']!.tS!;
      const ranked = hrv.rankPpgChannels(tS, Object.fromEntries(Object.entries(chans).map(([c, p]) => [c, p.values])));
      const channel = ranked[0]!.name;
      const det = hrv.detectPpg(tS, chans[channel]!.values);
      const { series, excluded } = hrv.ppgIntervals(det.beatsS);
      const ours = hrv.rrSummary(series);
      const polarRr = readRrColumn(`rr_welltory_${id}.csv`);
      const polar = hrv.rrSummary(polarRr);
      const agree = hrv.ppgAgreement(det.beatsS, polarRr);
      const nkMean = num(nk, 'ppg_mean_ibi_ms');
      const nkRmssd = num(nk, 'ppg_RMSSD');
      const pm = polar.mean_rr_ms!;
      const pr = polar.rmssd_ms!;
      if (ours.mean_rr_ms !== null && nkMean !== null && Math.abs(ours.mean_rr_ms - pm) <= Math.abs(nkMean - pm)) closerMean++;
      if (ours.rmssd_ms !== null && nkRmssd !== null && Math.abs(ours.rmssd_ms - pr) < Math.abs(nkRmssd - pr)) closerRmssd++;
      rows.push([
        id,
        `${channel} / ${String(get(nk, 'channel'))}`,
        `${det.beatsS.length} (${excluded} excl.)`,
        `${agree.sensitivity.toFixed(3)} / ${agree.ppv.toFixed(3)}`,
        pm,
        `${f(ours.mean_rr_ms)} (${pct(ours.mean_rr_ms, pm)})`,
        `${f(nkMean)} (${pct(nkMean, pm)})`,
        pr,
        ours.rmssd_ms,
        nkRmssd,
      ]);
    }
    return (
      'Smartphone-camera PPG (about 30 irregular frames/s) of 10 subjects; the reference is the RR list of a Polar H10 worn at the same time ' +
      '(not time-aligned). Channel: ours from `rankPpgChannels` (most regular pulse) / the one NeuroKit2\'s run used (most power at pulse frequencies). ' +
      'Ours: `detectPpg` then `ppgIntervals` (implausible intervals left out as gaps). Beat match: the Polar beats shifted by the offset that lines up the most beats (`ppgAgreement`, ±100 ms), Se / +P. ' +
      'NeuroKit2: `ppg_clean` + `ppg_peaks` (Elgendi), no artefact correction (`ppg_reference.json`). Camera PPG is a weak reference for RMSSD: ' +
      'frame timing jitter (±17 ms at 30 frames/s) alone adds variance to every interval.\n\n' +
      table(['subject', 'channel ours / NK', 'beats', 'beat match Se / +P', 'Polar mean RR', 'ours mean (Δ)', 'NeuroKit2 mean (Δ)', 'Polar RMSSD', 'ours RMSSD', 'NeuroKit2 RMSSD'], rows) +
      `\n\nCloser to the chest strap than NeuroKit2: mean interval ${closerMean}/10, RMSSD ${closerRmssd}/10.`
    );
  },
};

// ---------- detector and labels on every annotated record, and the noise stress test (hrv-detect) ----------

/** Detection and labelling of one signal, timed (detection only). */
function detectAndLabel(mv: Float64Array, fsHz: number): { peaks: Int32Array; labels: hrv.BeatLabel[]; ms: number } {
  const t0 = performance.now();
  const peaks = hrv.detectEcgBeats(mv, fsHz);
  const ms = performance.now() - t0;
  return { peaks, labels: hrv.labelBeats(mv, fsHz, peaks), ms };
}

/**
 * Why a record misses its targets, from the record itself: which beats were missed or invented and where
 * (annotated rhythm, signal-quality marks, mixed-in noise), how the PVCs were labelled, and which of our NN
 * intervals differ from the expert's. Generated, so it is regenerated with the tables.
 */
interface MissCauses {
  det: string;
  v: string;
  hrv: string;
}

function missCauses(
  rec: string,
  fsHz: number,
  beats: Array<{ sample: number; symbol: string }>,
  peaks: Int32Array,
  labels: hrv.BeatLabel[],
  exclude: Array<[number, number]>,
  offsetMs: number,
  active?: Uint8Array,
): MissCauses {
  const tol = Math.round(0.15 * fsHz);
  const out = (p: number): boolean => exclude.some(([a, b]) => p >= a - tol && p < b + tol);
  const rs: number[] = [];
  const rc: string[] = [];
  for (const b of beats) {
    const c = hrv.ec57Class(b.symbol);
    if (c === '' || out(b.sample)) continue;
    rs.push(b.sample);
    rc.push(c);
  }
  const ds: number[] = [];
  const dl: hrv.BeatLabel[] = [];
  peaks.forEach((p, i) => {
    if (!out(p)) {
      ds.push(p);
      dl.push(labels[i]!);
    }
  });
  const m = hrv.matchBeats(rs, ds, tol);
  // Annotated rhythm stretches and signal-quality marks.
  const other = readOtherAnnotations(rec);
  const rhythm: Array<[number, number, string]> = [];
  let open: [number, string] | null = null;
  for (const a of other) {
    if (a.symbol !== '+') continue;
    if (open) rhythm.push([open[0], a.sample, open[1]]);
    open = [a.sample, a.aux.replace('(', '')];
  }
  if (open) rhythm.push([open[0], Number.MAX_SAFE_INTEGER, open[1]]);
  const rhythmAt = (p: number): string => {
    const r = rhythm.find(([a, b]) => p >= a && p < b)?.[2] ?? '';
    return r === 'N' ? '' : r; // sinus rhythm is no cause
  };
  // The NST records (118e…) carry its noise in alternate two-minute stretches from minute 5 on.
  const nst = /^118e/.test(rec);
  const inNstNoise = (p: number): boolean => nst && p / fsHz >= 300 && Math.floor((p / fsHz - 300) / 120) % 2 === 0;
  const quality = other.filter((a) => a.symbol === '~').map((a) => a.sample);
  const nearQuality = (p: number): boolean => quality.some((q) => Math.abs(q - p) <= 3 * fsHz);
  const noiseNear = (p: number, w: number): boolean => {
    if (!active) return false;
    for (let i = Math.max(0, p - w); i <= Math.min(active.length - 1, p + w); i++) if (active[i]) return true;
    return false;
  };
  const count = (xs: string[]): string => {
    const n = new Map<string, number>();
    for (const x of xs) n.set(x, (n.get(x) ?? 0) + 1);
    return [...n].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v} ${k}`).join(', ');
  };
  // Detection.
  const fnWhy: string[] = [];
  rs.forEach((p, i) => {
    if (m.refToDet[i]! >= 0) return;
    const r = rhythmAt(p);
    if (active && noiseNear(p, Math.round(0.25 * fsHz))) fnWhy.push('lost beside a mixed-in artefact');
    else if (inNstNoise(p)) fnWhy.push("in the NST's noise stretches");
    else if (r === 'VT' || r === 'VFL' || r === 'IVR') fnWhy.push(`in ${r} runs`);
    else if (rc[i] === 'V' || rc[i] === 'F') fnWhy.push(`${rc[i]} beats (wide or fusion complexes)`);
    else if (r === 'AFIB' || r === 'AFL') fnWhy.push(`in ${r}`);
    else if (nearQuality(p)) fnWhy.push('within 3 s of an annotated signal-quality change (noise)');
    else fnWhy.push(`${rc[i]} beats in stretches without annotated noise or arrhythmia`);
  });
  const fpWhy: string[] = [];
  ds.forEach((p, j) => {
    if (m.detToRef[j]! >= 0) return;
    if (active && noiseNear(p, Math.round(0.05 * fsHz))) fpWhy.push('on a mixed-in artefact');
    else if (inNstNoise(p)) fpWhy.push("in the NST's noise stretches");
    else if (nearQuality(p)) fpWhy.push('within 3 s of an annotated signal-quality change (noise)');
    else if (rhythmAt(p)) fpWhy.push(`in ${rhythmAt(p)}`);
    else fpWhy.push('in stretches without annotated noise or arrhythmia');
  });
  const det: string[] = [];
  if (fnWhy.length) det.push(`missed ${fnWhy.length}: ${count(fnWhy)}`);
  if (fpWhy.length) det.push(`false ${fpWhy.length}: ${count(fpWhy)}`);
  if (Math.abs(offsetMs) > 10)
    det.push(
      `median offset ${offsetMs.toFixed(1)} ms: the annotations sit that far ${offsetMs > 0 ? 'before' : 'after'} the R peak we locate ` +
        `(one sample is ${(1000 / fsHz).toFixed(1)} ms), a difference of fiducial point that every record of the series shares, not missed beats`,
    );
  // V labels.
  const vWhy: string[] = [];
  rs.forEach((_, i) => {
    if (rc[i] !== 'V') return;
    const j = m.refToDet[i]!;
    if (j < 0) vWhy.push('PVCs not detected');
    else if (dl[j] !== 'V') vWhy.push(dl[j] === 'Q' ? 'PVCs labelled Q (noise or shape gate)' : `PVCs labelled ${dl[j]} (shape and timing passed as ${dl[j] === 'N' ? 'normal' : 'supraventricular'})`);
  });
  ds.forEach((_, j) => {
    if (dl[j] !== 'V') return;
    const i = m.detToRef[j]!;
    if (i < 0) vWhy.push('V on false detections');
    else if (rc[i] !== 'V') vWhy.push(`V on ${rc[i]} beats${rc[i] === 'F' ? ' (fusion)' : rc[i] === 'N' ? ' (aberrant or noisy normal beats)' : ''}`);
  });
  // NN series: which of our N–N intervals are not the expert's.
  const hrvWhy: string[] = [];
  for (let j = 1; j < ds.length; j++) {
    if (dl[j - 1] !== 'N' || dl[j] !== 'N') continue;
    const a = m.detToRef[j - 1]!;
    const b = m.detToRef[j]!;
    if (a < 0 || b < 0) hrvWhy.push('next to a false detection');
    else if (b - a > 1) hrvWhy.push('spanning a missed beat');
    else if (rc[a] !== 'N' || rc[b] !== 'N') hrvWhy.push(`next to an annotated ${rc[a] !== 'N' ? rc[a] : rc[b]} beat we labelled N`);
  }
  // Expert NN intervals (two consecutive EC57-normal beats) that ours lacks: a beat of the pair missed or labelled other than N.
  let lost = 0;
  for (let i = 1; i < rs.length; i++) {
    if (rc[i - 1] !== 'N' || rc[i] !== 'N') continue;
    const a = m.refToDet[i - 1]!;
    const b = m.refToDet[i]!;
    if (a < 0 || b < 0 || b - a !== 1 || dl[a] !== 'N' || dl[b] !== 'N') lost++;
  }
  const hrvText = [
    hrvWhy.length ? `${hrvWhy.length} of our NN intervals are not expert NN intervals: ${count(hrvWhy)}` : '',
    lost ? `${lost} expert NN intervals are missing from ours (a beat of the pair missed, or labelled Q, S or V)` : '',
  ]
    .filter((x) => x)
    .join('; ');
  return {
    det: det.join('; '),
    v: vWhy.length ? count(vWhy) : '',
    hrv: hrvText,
  };
}

const se = (x: number) => (Number.isNaN(x) ? '—' : x.toFixed(4));
const pair = (a: number, b: number) => `${se(a)} / ${se(b)}`;
const within = (o: number | null, r: number | null, tol: number) => o !== null && r !== null && r !== 0 && Math.abs(o - r) / Math.abs(r) <= tol;

const allRecordsSection: Section = {
  title: 'Detection, labels and NN HRV on every annotated record (EC57 scoring)',
  run() {
    const rows: Array<Array<string | number | null>> = [];
    let met = 0;
    const misses: string[] = [];
    const causes: string[] = [];
    for (const rec of ANNOTATED_ECG_RECORDS) {
      log(`  record ${rec}`);
      const { mv, fsHz } = readEcgRecord(rec);
      const beats = readBeatsRecord(rec);
      const { peaks, labels } = detectAndLabel(mv, fsHz);
      const exclude = vfRanges(rec, mv.length);
      const r = hrv.evaluateRecord(
        fsHz,
        beats.map((b) => b.sample),
        beats.map((b) => b.symbol),
        peaks,
        labels,
        exclude,
      );
      const cu = rec.startsWith('cu');
      const detOk = r.sensitivity >= 0.997 && r.ppv >= 0.997 && Math.abs(r.medianOffsetMs) <= 10;
      const vOk = cu || r.v.tp + r.v.fn === 0 || (r.v.sensitivity >= 0.95 && r.v.ppv >= 0.95);
      const hrvOk = cu || (within(r.sdnnOurs, r.sdnnRef, 0.05) && within(r.rmssdOurs, r.rmssdRef, 0.05));
      if (detOk) met++;
      else misses.push(rec);
      if (!detOk || !vOk || !hrvOk) {
        const why = missCauses(rec, fsHz, beats, peaks, labels, exclude, r.medianOffsetMs);
        const parts: string[] = [];
        if (!detOk) parts.push(`detection (Se ${se(r.sensitivity)}, +P ${se(r.ppv)}): ${why.det || 'see the table'}`);
        if (!vOk) parts.push(`V labels (Se ${se(r.v.sensitivity)}, +P ${se(r.v.ppv)}): ${why.v}`);
        if (!hrvOk) parts.push(`HRV (SDNN ${pct(r.sdnnOurs, r.sdnnRef)}, RMSSD ${pct(r.rmssdOurs, r.rmssdRef)}): ${why.hrv}`);
        causes.push(`- **${rec}** — ${parts.join('. ')}.`);
      }
      rows.push([
        rec,
        fsHz,
        r.nRef,
        pair(r.sensitivity, r.ppv),
        `${r.fn} / ${r.fp}`,
        `${r.medianOffsetMs.toFixed(1)}`,
        cu ? '—' : `${r.v.tp + r.v.fn}: ${pair(r.v.sensitivity, r.v.ppv)}`,
        cu ? '—' : `${r.s.tp + r.s.fn}: ${pair(r.s.sensitivity, r.s.ppv)}`,
        r.nQ,
        cu ? '—' : `${f(r.sdnnOurs)} / ${f(r.sdnnRef)} (${pct(r.sdnnOurs, r.sdnnRef)})`,
        cu ? '—' : `${f(r.rmssdOurs)} / ${f(r.rmssdRef)} (${pct(r.rmssdOurs, r.rmssdRef)})`,
        `${yes(detOk)} / ${cu ? '—' : yes(vOk)} / ${cu ? '—' : yes(hrvOk)}`,
      ]);
    }
    return (
      'Every record of `../shared/data` with ECG samples and beat annotations, whole record, `detectEcgBeats` then `labelBeats`, scored by `evaluateRecord`: ' +
      'one-to-one matching within 150 ms against every beat annotation; EC57 classes (N, L, R, e, j → N; A, a, J, S → S; V, E → V; F; Q, ? → Q); ' +
      'ventricular flutter/fibrillation stretches (`[`…`]`, `(VF`) are left out (cu01, cu03: no beats are annotated there). ' +
      'The cu records\' beat annotations are preliminary (every beat `N`): R positions only, so no label or HRV score for them. ' +
      'V and S columns: number of annotated beats of the class, then label Se / +P on matched beats. Q: detections labelled unclassifiable. ' +
      'SDNN / RMSSD: from our NN series (intervals between two beats we labelled N) / from the annotation NN series (two EC57-normal beats), ms. ' +
      'Targets: detection Se, +P ≥ 0.997 with |median offset| ≤ 10 ms; V Se, +P ≥ 0.95 where there are PVCs; SDNN and RMSSD within 5%.\n\n' +
      table(['record', 'Hz', 'beats', 'Se / +P', 'missed / false', 'offset ms', 'V: Se / +P', 'S: Se / +P', 'Q', 'SDNN ours / annot.', 'RMSSD ours / annot.', 'targets det / V / HRV'], rows) +
      `\n\nDetection target met on ${met} of ${ANNOTATED_ECG_RECORDS.length} records; missed on ${misses.join(', ') || 'none'}.\n\n` +
      '### Every missed target and its cause\n\n' +
      'Generated from each record (`missCauses` in scripts/validation.ts): every missed and every false beat is attributed to where it lies ' +
      '(annotated rhythm: VT, AFIB…; within 3 s of an annotated signal-quality change `~`; its EC57 class), every mislabelled PVC to the label it got, ' +
      'and every NN interval of ours that is not an expert NN interval to why (next to an ectopic beat we labelled N, next to a false detection, spanning a missed beat). ' +
      'The 118e records are 118 with the NST\'s real electrode-motion noise at 24 … −6 dB in alternate two-minute stretches from minute 5. ' +
      'The cu records (Creighton ventricular tachyarrhythmia) carry preliminary annotations without rhythm labels, so their misses cannot be attributed to ' +
      'ventricular tachycardia here even where they lie in it. A record\'s median offset beyond ±10 ms with every beat found is a fiducial-point convention of its database.\n\n' +
      (causes.join('\n') || 'None.')
    );
  },
};

// ---------- RR-only cleaning on every annotated record, AF flag, sine band powers (hrv-clean) ----------

/** EC57 normal beat class: N, L, R, e, j (bundle-branch-block beats are the patient's normal beats). */
const EC57_NORMAL = new Set(['N', 'L', 'R', 'e', 'j']);
const BEAT_CODES = new Set('N L R B A a J S V r F e j n E / f Q ?'.split(' '));

/** Annotated beats (t s, WFDB symbol) of `beats_<rec>.csv[.gz]`, beat codes only. */
function annotatedBeats(rec: string): Array<{ tS: number; symbol: string }> {
  const name = rec === 'nsr001' ? 'beats_nsr001.csv.gz' : `beats_${rec}.csv`;
  return readSharedText(name)
    .split(/\r?\n/)
    .filter((l) => /^\d/.test(l))
    .map((l) => l.split(','))
    .map((r) => ({ tS: Number(r[0]), symbol: (r[2] ?? '').trim() }))
    .filter((b) => BEAT_CODES.has(b.symbol));
}

/** Every interval (RR_all) and the expert NN series (both beats EC57-normal, gaps elsewhere), ms from `originS`. */
function allAndNn(rec: string): { all: RrSeries; nn: RrSeries } {
  const beats = annotatedBeats(rec);
  const originS = rec === 'nsr001' ? beats[0]!.tS : 0;
  const all = hrv.rrAllSeriesFromBeats(beats, { originS });
  const nn = hrv.rrAllSeriesFromBeats(beats, { originS });
  const keep: number[] = [];
  // nsr001's annotations hold dropouts of up to 7.5 s between N beats, which no HRV analysis should include:
  // its NN series is restricted to the plausible range (≤ 2 s), as in rr-clean.test.ts.
  const plausible = (i: number) => rec !== 'nsr001' || nn.rrMs[i - 1]! <= 2000;
  for (let i = 1; i < beats.length; i++) {
    if (EC57_NORMAL.has(beats[i - 1]!.symbol) && EC57_NORMAL.has(beats[i]!.symbol) && plausible(i)) keep.push(i - 1);
  }
  return {
    all,
    nn: { tMs: Float64Array.from(keep, (i) => nn.tMs[i]!), rrMs: Float64Array.from(keep, (i) => nn.rrMs[i]!) },
  };
}

const CLEAN_RECORDS = [
  '100', '105', '116', '118', '119', '200', '201', '203', '208', '210', '213', '214', '221', '223', '228', '231', '233',
  '800', '801', '802', '803', '804', '805', '806', '807', '808', '809', '810', '811', 'nsr001',
];
const AF_RECORDS = new Set(['201', '203', '210', '221']);

const allRecordsCleaningSection: Section = {
  title: 'RR-only cleaning on every annotated record, with the irregular-rhythm (AF) flag',
  run() {
    const rows: Array<Array<string | number | null>> = [];
    let met = 0;
    let judged = 0;
    for (const rec of CLEAN_RECORDS) {
      const { all, nn } = allAndNn(rec);
      const { series, report } = hrv.cleanRr(all);
      for (const [key, from, to] of [
        ['0–300 s', 0, 300],
        ['whole', 0, 1e9],
      ] as const) {
        const o = hrv.timeDomain(hrv.windowOf(series, from, to));
        const n = hrv.timeDomain(hrv.windowOf(nn, from, to));
        const spans = report.af_spans_s.filter(([a, b]) => a < to && b > from);
        const af = spans.length > 0 ? `AF suspected in ${spans.length} block${spans.length === 1 ? '' : 's'}: not corrected` : '—';
        const es = relErr(o.sdnn_ms, n.sdnn_ms);
        const er = relErr(o.rmssd_ms, n.rmssd_ms);
        const ok = es !== null && er !== null && es <= 0.1 && er <= 0.1;
        const verdict = AF_RECORDS.has(rec) ? (spans.length > 0 ? 'report (AF flagged)' : '**AF not flagged**') : yes(ok);
        if (!AF_RECORDS.has(rec)) {
          judged++;
          if (ok) met++;
        }
        rows.push([`${rec} ${key}`, n.sdnn_ms, o.sdnn_ms, pct(o.sdnn_ms, n.sdnn_ms), n.rmssd_ms, o.rmssd_ms, pct(o.rmssd_ms, n.rmssd_ms), af, verdict]);
      }
      log(`  ${rec}: ${report.n_excluded}/${report.n_input} excluded, ${report.missed_beat_runs.length} missed-beat runs, AF ${report.af_suspected}`);
    }
    return (
      '`cleanRr(RR_all)` with default options sees only the intervals. Expert NN: intervals whose two beats are in ' +
      "EC57's normal class (N, L, R, e, j; for 100, 105, 119 that is the `N` definition of `reference_hrv.json`), gaps elsewhere. " +
      'AF records (201, 203, 210, 221) are reported, not judged: in 5-minute blocks judged an irregular rhythm (`assessRhythm`) cleaning stops ' +
      '"correcting" and passes the intervals as recorded, so their RMSSD is the AF rhythm\'s. Records 118e* (same annotations as 118) and cu01–cu12 ' +
      '(preliminary annotations, every beat `N`) are left out.\n\n' +
      table(['record, window', 'NN SDNN', 'cleaned SDNN', 'Δ', 'NN RMSSD', 'cleaned RMSSD', 'Δ', 'irregular rhythm', 'within 10%'], rows) +
      `\n\nTarget (SDNN and RMSSD within 10% of NN) met in ${met} of ${judged} non-AF record windows (nsr001: NN ≤ 2 s, its annotations hold ` +
      'dropouts). Where it is missed the cause is ectopy or rhythm that intervals alone do not reveal: couplets, runs of PVCs and fusion beats ' +
      '(200, 208, 213, 233), PVCs coupled late enough to shorten the interval by less than the 15% threshold (223, 228), bigeminy without a ' +
      "compensatory pause (801), runs of SVT that the local reference follows (807, 809), 105's noise (its NN series keeps 3 missed-beat " +
      'intervals), and genuine pauses excluded as artefacts (118, 231; `keepPauses` brings 118 whole to −9.7% / −23%). 804 is irregular ' +
      'throughout and is flagged as suspected AF.'
    );
  },
};

const NOISE_SNRS = [24, 18, 12, 6, 0] as const;

const noiseStressSection: Section = {
  title: 'Noise stress test: detection and V labels with noise mixed into 100, 105 and 119',
  run() {
    const rows: Array<Array<string | number | null>> = [];
    const causes: string[] = [];
    for (const rec of REC) {
      const { mv, fsHz } = readEcgRecord(rec);
      const beats = readBeatsRecord(rec);
      const ref = beats.filter((b) => hrv.ec57Class(b.symbol) !== '').map((b) => b.sample);
      for (const type of hrv.NOISE_TYPES) {
        log(`  noise ${rec} ${type}`);
        for (const snr of NOISE_SNRS) {
          const noisy = hrv.mixNoise(mv, fsHz, ref, type, snr, { seed: 1 });
          const { peaks, labels } = detectAndLabel(noisy.signal, fsHz);
          const r = hrv.evaluateRecord(fsHz, beats.map((b) => b.sample), beats.map((b) => b.symbol), peaks, labels);
          const ok = r.sensitivity >= 0.99 && r.ppv >= 0.99 && Math.abs(r.medianOffsetMs) <= 10;
          if (snr >= 12 && !ok) {
            const why = missCauses(rec, fsHz, beats, peaks, labels, [], r.medianOffsetMs, noisy.active);
            causes.push(`- **${rec}, ${type}, ${snr} dB** (Se ${se(r.sensitivity)}, +P ${se(r.ppv)}): ${why.det}.`);
          }
          rows.push([
            rec,
            type,
            snr,
            pair(r.sensitivity, r.ppv),
            `${r.fn} / ${r.fp}`,
            r.medianOffsetMs.toFixed(1),
            r.v.tp + r.v.fn === 0 ? `(${r.v.fp} false V)` : pair(r.v.sensitivity, r.v.ppv),
            r.nQ,
            snr >= 12 ? yes(ok) : '',
          ]);
        }
      }
    }
    return (
      'Our own stress test (`mixNoise`, seed 1): noise of each type added to the whole record at 24, 18, 12, 6 and 0 dB, ' +
      'SNR as in the MIT-BIH Noise Stress Test: S = A²/8 with A the median peak-to-peak QRS amplitude at the annotated beats, ' +
      'N the mean square of the noise over the whole record, also for the sparse types (so a spike at 12 dB is far taller than a continuous noise at 12 dB, as in the NST). ' +
      'Types: `baseline` (respiration sines and a 0.5 Hz low-passed random walk), `muscle` (20–150 Hz noise with slow bursts), ' +
      '`motion` (80–400 ms 1–20 Hz bursts with a baseline step every 1–4 s), `spikes` (10–40 ms biphasic spikes every 0.5–3 s), `powerline` (60 Hz with its 3rd harmonic, slowly modulated). ' +
      'V: label Se / +P on matched beats (record 100 has one PVC, so its false V count is shown). Q: detections labelled unclassifiable. ' +
      'Target: Se and +P ≥ 0.99 at 12 dB and above, |median offset| ≤ 10 ms.\n\n' +
      table(['record', 'noise', 'SNR dB', 'Se / +P', 'missed / false', 'offset ms', 'V Se / +P', 'Q', '≥ 0.99'], rows) +
      '\n\nThe real electrode-motion noise of the MIT-BIH Noise Stress Test is scored in the table above (records 118e24 … 118e_6).\n\n' +
      '### Every missed target at 12 dB and above, and its cause\n\n' +
      'Each missed beat within 250 ms of mixed-in noise was lost beside an artefact (the artefact took its place, or merged with it in the ' +
      '150 ms integrated energy so that it was never a candidate, and no complex near it matched the record\'s templates closely enough to be ' +
      'moved to or rescued); each false beat within 50 ms of noise is an artefact detection that correlates with the QRS templates ' +
      '(a motion burst or a 10–40 ms spike can reach 0.6–0.95) and whose removal the rhythm does not clearly allow. ' +
      'Tried and not kept: removing detections that correlate below 0.85 (instead of 0.5) wherever the rhythm allows it, with the rhythm ' +
      'measured on template-like beats only, brings 119 with spikes at 12 dB to Se 0.999 / +P 0.997, but it deletes real beats of unusual form ' +
      'in irregular rhythms (203, 233, 801, 811 and the ventricular tachycardias of cu04–cu07), and no clean record may get worse.\n\n' +
      (causes.join('\n') || 'None: every target at 12 dB and above is met.')
    );
  },
};

const afSection: Section = {
  title: 'Irregular rhythm (suspected AF) per 5-minute block against the annotated rhythm',
  run() {
    const rows: Array<Array<string | number | null>> = [];
    let tp = 0;
    let fn = 0;
    let fp = 0;
    let tn = 0;
    for (const rec of CLEAN_RECORDS.filter((r) => r !== 'nsr001')) {
      const { all } = allAndNn(rec);
      const rhythm = readSharedText(`other_annotations_${rec}.csv`)
        .split(/\r?\n/)
        .filter((l) => /^\d/.test(l))
        .map((l) => l.split(','))
        .filter((r) => (r[3] ?? '').startsWith('('))
        .map((r) => [Number(r[0]) * 1000, r[3]!.trim()] as const);
      const afAt = (tMs: number): boolean => {
        let cur = '';
        for (const [t0, r] of rhythm) if (t0 <= tMs) cur = r;
        return cur === '(AFIB' || cur === '(AFL';
      };
      const flags: string[] = [];
      const irr: string[] = [];
      for (let k = 0; k * 300 < all.tMs[all.tMs.length - 1]! / 1000; k++) {
        const w = hrv.windowOf(all, k * 300, (k + 1) * 300);
        if (w.rrMs.length < 100) continue;
        let inAf = 0;
        for (const t of w.tMs) if (afAt(t)) inAf++;
        const truth = inAf / w.rrMs.length >= 0.5;
        const a = hrv.assessRhythm(w);
        if (truth && a.af_suspected) tp++;
        else if (truth) fn++;
        else if (a.af_suspected) fp++;
        else tn++;
        flags.push(`${truth ? 'AF' : '–'}/${a.af_suspected ? '**AF**' : '–'}`);
        irr.push(a.irregularity === null ? '—' : a.irregularity.toFixed(3));
      }
      rows.push([rec, flags.join(' '), irr.join(' ')]);
    }
    return (
      '`assessRhythm` on every annotated interval (no labels) of consecutive 5-minute blocks; a block counts as AF when at least half its ' +
      'intervals lie in an annotated `(AFIB` or `(AFL` (atrial flutter, here with variable conduction: 203) episode. Each cell: annotated / flagged. 118e*, cu* and nsr001 are left out (no AF, or no rhythm annotations).\n\n' +
      table(['record', 'blocks: annotated / flagged', 'irregularity per block'], rows) +
      `\n\nAF blocks flagged: ${tp} of ${tp + fn}; non-AF blocks flagged: ${fp} of ${fp + tn}. The false flags come from irregular ectopy the ` +
      'compensatory-pause test does not explain: runs of PVCs with fusion beats (208), SVTA and aberrated beats in 201\'s non-AF stretches, ' +
      "frequent irregular ectopy in 804 and 801's first block. Record 119 (bigeminy, trigeminy) is never flagged."
    );
  },
};

const sineBandsSection: Section = {
  title: 'Band powers of sines at low heart rates (breathing approaching half the beat rate)',
  run() {
    const A = 50;
    const truth = (A * A) / 2;
    const rows: Array<Array<string | number | null>> = [];
    let worstLomb = 0;
    let worstWelch = 0;
    for (const mean of [600, 800, 1000, 1200, 1400, 1700]) {
      for (const fHz of [0.1, 0.25, 0.3, 0.35]) {
        const t: number[] = [];
        const rr: number[] = [];
        let tt = 0;
        while (tt < 300_000 - 2 * mean) {
          const r = mean + A * Math.sin((2 * Math.PI * fHz * tt) / 1000);
          tt += r;
          t.push(tt);
          rr.push(r);
        }
        const s = { tMs: Float64Array.from(t), rrMs: Float64Array.from(rr) };
        const band = fHz < 0.15 ? 'lf_ms2' : 'hf_ms2';
        const lomb = hrv.frequencyDomain(s, 'lomb')[band];
        const welch = hrv.frequencyDomain(s, 'welch')[band];
        const nyq = 500 / mean;
        const above = fHz >= nyq - 0.005;
        if (!above) {
          worstLomb = Math.max(worstLomb, relErr(lomb, truth) ?? Infinity);
          worstWelch = Math.max(worstWelch, relErr(welch, truth) ?? Infinity);
        }
        rows.push([mean, fHz, f(nyq, 3), lomb, pct(lomb, truth), welch, pct(welch, truth), above ? 'above the beat Nyquist (aliased)' : '']);
      }
    }
    return (
      `300 s of RR = mean + ${A}·sin(2πf·t) ms (t = beat time); the analytic band power is ${truth} ms². Lomb–Scargle is the default ` +
      '(no interpolation, hence no transfer function); Welch resamples with a cubic spline at 4 Hz and now divides the PSD by the spline\'s ' +
      'transfer function |H(f·RR)|² (docs/frequency-domain.md). Before the correction Welch HF was −15.6% at 1000 ms / 0.35 Hz, −39.7% at ' +
      '1200 ms / 0.35 Hz and −36.8% at 1700 ms / 0.25 Hz.\n\n' +
      table(['mean RR (ms)', 'f (Hz)', 'beat Nyquist (Hz)', 'Lomb (default)', 'Δ', 'Welch (corrected)', 'Δ', ''], rows) +
      `\n\nBelow the beat Nyquist frequency: worst Lomb error ${(100 * worstLomb).toFixed(1)}%, worst Welch error ${(100 * worstWelch).toFixed(1)}% ` +
      `(target 2%: Lomb ${yes(worstLomb <= 0.02)}, Welch ${yes(worstWelch <= 0.02)}; Welch also drops the interpolation's images above the beat ` +
      'Nyquist frequency, which near it fall inside HF). A sine above the beat Nyquist frequency cannot be estimated from ' +
      'one sample per beat: its power appears at the alias frequency.'
    );
  },
};

const speedSection: Section = {
  title: 'Speed targets (`npm run bench`)',
  run() {
    const file = join(ROOT, 'bench-results', 'hrv.json');
    if (!existsSync(file)) return 'No figures: run `npm run bench` (it writes bench-results/hrv.json), then `npm run validate`.';
    const r = JSON.parse(readFileSync(file, 'utf8')) as {
      rows: Array<{ name: string; median_ms: number; p90_ms: number; min_ms?: number; runs: number; target_ms?: number }>;
      node: string;
      date: string;
      cpus?: number;
      load_before?: number;
      load_after?: number;
    };
    const rows: Array<Array<string | number | null>> = [];
    const causes: string[] = [];
    const busy = r.cpus !== undefined && r.load_before !== undefined && Math.max(r.load_before, r.load_after ?? 0) > r.cpus;
    for (const x of r.rows) {
      if (x.target_ms === undefined) continue;
      const ok = x.median_ms < x.target_ms;
      const fastOk = x.min_ms !== undefined && x.min_ms < x.target_ms;
      rows.push([x.name, x.median_ms, x.p90_ms, x.min_ms ?? null, x.runs, x.target_ms, yes(ok), x.min_ms === undefined ? '—' : yes(fastOk)]);
      if (ok) continue;
      let why: string;
      if (fastOk && busy)
        why = `the fastest of ${x.runs} runs (${f(x.min_ms!)} ms) meets it; the median was taken on a machine busy beyond its cores (load average ${r.load_before!.toFixed(1)} → ${r.load_after!.toFixed(1)} on ${r.cpus} CPUs), so it measures the machine's other work as much as ours`;
      else if (x.name.startsWith('ECG detection'))
        why =
          `even the fastest run (${f(x.min_ms ?? x.median_ms)} ms) is above it${busy ? ` (load average ${r.load_before!.toFixed(1)} on ${r.cpus} CPUs)` : ''}: ` +
          'since the issue was filed the detector does more per sample — a second (low) band for wide PVCs, two threshold passes and the record\'s own ' +
          'QRS templates for the close calls and the rhythm check. Profiled on record 100, the two zero-phase band-passes (one fused sweep) take about a third, ' +
          'the running sums (energies, low band, levels) about a fifth, the threshold passes and template correlations about a third; every full-length pass ' +
          'over 30 minutes at 360 Hz (650 000 samples, 5 MB) also costs memory bandwidth. The output is pinned bit for bit (src/hrv/detector-pin.test.ts), ' +
          'so none of this was bought with accuracy';
      else why = `even the fastest run (${f(x.min_ms ?? x.median_ms)} ms) is above it${busy ? ` (load average ${r.load_before!.toFixed(1)} on ${r.cpus} CPUs)` : ''}`;
      causes.push(`- **${x.name}**: median ${f(x.median_ms)} ms against ${f(x.target_ms)} ms — ${why}.`);
    }
    return (
      `Figures of the last \`npm run bench\` (bench-results/hrv.json, ${r.date}, Node ${r.node}` +
      (r.cpus !== undefined ? `, ${r.cpus} CPUs, 1-minute load average ${r.load_before?.toFixed(1)} before and ${r.load_after?.toFixed(1)} after` : '') +
      '): each case warmed up, then repeated; the target is judged on the median, the fastest run shows what the code does when the machine is not shared. ' +
      'Targets: detection of 30 minutes at 360 Hz under 50 ms; the full measure set of 5 minutes under 2 ms (and of 30 minutes under 50 ms).\n\n' +
      table(['case', 'median ms', 'p90 ms', 'fastest ms', 'runs', 'target ms', 'median met', 'fastest met'], rows) +
      '\n\n### Every missed speed target and its cause\n\n' +
      (causes.join('\n') || 'None: every speed target is met.')
    );
  },
};

const SECTIONS: Section[] = [
  detectionSection,
  speedSection,
  labelSection,
  allRecordsSection,
  noiseStressSection,
  ownNnSection,
  cleaningSection,
  allRecordsCleaningSection,
  afSection,
  timeNonlinearSection,
  knownBandsSection,
  sineBandsSection,
  realFrequencySection,
  ppgSection,
];

async function main(): Promise<void> {
  if (!hasSharedData()) {
    log(`validation: reference data not found at ${SHARED_DATA_DIR}; nothing written`);
    process.exitCode = 1;
    return;
  }
  const started = performance.now();
  const parts: string[] = [
    '# Validation of the HRV core',
    '',
    'Generated by `npm run validate` (`scripts/validation.ts`) from the reference data in `../shared/data`; do not edit by hand. ' +
      `Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
    '',
    'Reference values: NeuroKit2 0.2.12, cross-checked with pyHRV 0.4.1 and hrv-analysis 1.0.5 (`reference_hrv.json`, `detector_reference.json`, `ppg_reference.json`). ' +
      'NN series: an interval is kept only when both its beats are annotated `N`; a dropped interval leaves a gap, and successive differences are never taken across a gap. ' +
      'Windows: an interval belongs to [t0, t1) when both its beats do. Bands: VLF 0.0033–0.04, LF 0.04–0.15, HF 0.15–0.4 Hz.',
    '',
  ];
  for (const s of SECTIONS) {
    log(`${s.title}…`);
    const t0 = performance.now();
    let body: string;
    try {
      body = await s.run();
    } catch (err) {
      body = `Not available: ${err instanceof Error ? err.message : String(err)}`;
      log(`  failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    parts.push(`## ${s.title}`, '', body, '');
    log(`  ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  }
  parts.push(
    '## Data sources',
    '',
    '- MIT-BIH Arrhythmia Database (records 100, 105, 119) and MIT-BIH Normal Sinus Rhythm RR Database (nsr001), PhysioNet, Open Data Commons Attribution 1.0. ' +
      'Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database. IEEE Eng Med Biol 20(3):45–50 (2001). ' +
      'Goldberger AL et al. PhysioBank, PhysioToolkit, and PhysioNet. Circulation 101(23):e215–e220 (2000). ' +
      'Record 100 from wfdb/wfdb-python\'s sample data; 105 and nsr001 from cliffordlab/PhysioNet-Cardiovascular-Signal-Toolbox; 119 from mad-lab-fau/tpcp.',
    '- ANSI/AAMI EC57:2012 HRV test patterns, as distributed with cliffordlab/PhysioNet-Cardiovascular-Signal-Toolbox.',
    '- Welltory PPG dataset (Welltory/welltory-ppg-dataset), CC0 1.0. Neshitov A et al., Sensors 21, 6798 (2021).',
    '- Reference tools: NeuroKit2 0.2.12 (neuropsychology/NeuroKit), pyHRV 0.4.1 (PGomes92/pyhrv), hrv-analysis 1.0.5 (Aura-healthcare/hrv-analysis).',
    '',
  );
  writeFileSync(OUT, parts.join('\n'));
  log(`wrote ${OUT} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

await main();
