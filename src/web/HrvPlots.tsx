/** The four HRV plots: RR tachogram (live, zoomable, cleaning marked), Poincaré with the SD1/SD2 ellipse, NN histogram, power spectrum with its bands. */
import { useMemo } from 'react';
import uPlot from 'uplot';
import { Plot } from './Chart.js';
import { fmtDateTime } from './format.js';
import { PSD_METHOD_NAME, SPECTRUM_BANDS, poincareEllipse, spectrumData, type TachogramData, type WindowAnalysis } from './beats.js';

const ms = (_u: uPlot, v: number | null) => (v === null ? '—' : `${Math.round(v)} ms`);

/** Options of the tachogram (exported for the frame-time measurement). */
export function tachogramOptions(
  width: number,
  height: number,
  onSelect?: (fromMs: number, toMs: number) => void,
  window?: { fromMs: number; toMs: number } | null,
  irregular: ReadonlyArray<readonly [number, number]> = [],
): uPlot.Options {
  return {
    width,
    height,
    series: [
      { value: (_u: uPlot, v: number | null) => (v === null ? '—' : fmtDateTime(v * 1000)) },
      { label: 'RR (as measured)', stroke: 'rgba(100, 116, 139, 0.55)', width: 1, spanGaps: true, points: { show: false }, value: ms },
      { label: 'NN (after cleaning)', stroke: '#1d4ed8', width: 1.25, spanGaps: false, points: { show: false }, value: ms },
      {
        label: 'Excluded',
        stroke: '#dc2626',
        fill: '#dc2626',
        width: 0,
        paths: () => null,
        points: { show: true, size: 7, stroke: '#dc2626', fill: '#dc2626' },
        value: ms,
      },
      {
        label: 'Corrected',
        stroke: '#d97706',
        width: 0,
        paths: () => null,
        points: { show: true, size: 7, stroke: '#d97706', fill: '#fff' },
        value: ms,
      },
    ],
    axes: [{}, { label: 'RR (ms)', size: 56 }],
    scales: { x: { time: true } },
    cursor: { drag: { x: true, y: false, setScale: true } },
    legend: { live: true },
    hooks: {
      drawClear: [
        (u) => {
          // Stretches cleaning judged an irregular rhythm (left uncorrected).
          const ctx0 = u.ctx;
          ctx0.save();
          ctx0.fillStyle = 'rgba(147, 51, 234, 0.12)';
          for (const [a, b] of irregular) {
            const x0 = u.valToPos(a, 'x', true);
            const x1 = u.valToPos(b, 'x', true);
            ctx0.fillRect(x0, u.bbox.top, Math.max(1, x1 - x0), u.bbox.height);
          }
          ctx0.restore();
          if (!window) return;
          const a = u.valToPos(window.fromMs / 1000, 'x', true);
          const b = u.valToPos(window.toMs / 1000, 'x', true);
          const ctx = u.ctx;
          ctx.save();
          ctx.fillStyle = 'rgba(250, 204, 21, 0.16)';
          ctx.fillRect(Math.min(a, b), u.bbox.top, Math.abs(b - a), u.bbox.height);
          ctx.restore();
        },
      ],
      setSelect: [
        (u) => {
          if (!onSelect || u.select.width < 4) return;
          const from = u.posToVal(u.select.left, 'x');
          const to = u.posToVal(u.select.left + u.select.width, 'x');
          onSelect(from * 1000, to * 1000);
        },
      ],
    },
  };
}

export function Tachogram({
  data,
  height = 260,
  onSelect,
  window,
  irregular = [],
}: {
  /** Irregular-rhythm stretches, epoch seconds. */
  irregular?: ReadonlyArray<readonly [number, number]>;
  data: TachogramData;
  height?: number;
  onSelect?: (fromMs: number, toMs: number) => void;
  window?: { fromMs: number; toMs: number } | null;
}) {
  const beats = data[1].reduce<number>((n, v) => n + (v === null ? 0 : 1), 0);
  const excluded = data[3].reduce<number>((n, v) => n + (v === null ? 0 : 1), 0);
  const corrected = data[4].reduce<number>((n, v) => n + (v === null ? 0 : 1), 0);
  return (
    <Plot
      make={(w, h) => tachogramOptions(w, h, onSelect, window, irregular)}
      optsKey={`tacho:${window?.fromMs ?? ''}:${window?.toMs ?? ''}:${irregular.map((s) => s.join('-')).join(',')}`}
      data={data as unknown as uPlot.AlignedData}
      height={height}
      testId="tachogram"
      label={`RR tachogram: ${beats} beats, ${excluded} excluded, ${corrected} corrected`}
    />
  );
}

export function PoincarePlot({ a, height = 300 }: { a: WindowAnalysis; height?: number }) {
  const { x, y, sd1, sd2, meanNn } = a.poincare;
  const data = useMemo(() => [x, y] as uPlot.AlignedData, [x, y]);
  const ellipse = sd1 !== null && sd2 !== null && meanNn !== null ? poincareEllipse(meanNn, sd1, sd2) : null;
  const lo = Math.min(...x, ...y);
  const hi = Math.max(...x, ...y);
  const pad = Math.max(20, (hi - lo) * 0.08);
  const range: uPlot.Range.MinMax = [Math.floor((lo - pad) / 10) * 10, Math.ceil((hi + pad) / 10) * 10];
  return (
    <Plot
      make={(w, h) => ({
        width: Math.min(w, h + 60),
        height: h,
        mode: 1,
        series: [
          { label: 'RRₙ', value: ms },
          { label: 'RRₙ₊₁', stroke: 'rgba(29, 78, 216, 0.7)', paths: () => null, points: { show: true, size: 4, fill: 'rgba(29, 78, 216, 0.45)' }, value: ms },
        ],
        scales: { x: { time: false, range: () => range }, y: { range: () => range } },
        axes: [{ label: 'RRₙ (ms)' }, { label: 'RRₙ₊₁ (ms)', size: 56 }],
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        hooks: {
          draw: [
            (u) => {
              const ctx = u.ctx;
              ctx.save();
              // Identity line.
              ctx.strokeStyle = 'rgba(100, 116, 139, 0.6)';
              ctx.setLineDash([4, 4]);
              ctx.beginPath();
              ctx.moveTo(u.valToPos(range[0]!, 'x', true), u.valToPos(range[0]!, 'y', true));
              ctx.lineTo(u.valToPos(range[1]!, 'x', true), u.valToPos(range[1]!, 'y', true));
              ctx.stroke();
              ctx.setLineDash([]);
              if (ellipse && sd1 !== null && sd2 !== null && meanNn !== null) {
                ctx.strokeStyle = '#dc2626';
                ctx.lineWidth = 2;
                ctx.beginPath();
                ellipse.x.forEach((ex, k) => {
                  const px = u.valToPos(ex, 'x', true);
                  const py = u.valToPos(ellipse.y[k]!, 'y', true);
                  if (k === 0) ctx.moveTo(px, py);
                  else ctx.lineTo(px, py);
                });
                ctx.stroke();
                // SD1 (across) and SD2 (along) half-axes.
                const c = [u.valToPos(meanNn, 'x', true), u.valToPos(meanNn, 'y', true)] as const;
                const axis = (dx: number, dy: number, color: string) => {
                  ctx.strokeStyle = color;
                  ctx.beginPath();
                  ctx.moveTo(c[0], c[1]);
                  ctx.lineTo(u.valToPos(meanNn + dx, 'x', true), u.valToPos(meanNn + dy, 'y', true));
                  ctx.stroke();
                };
                axis(-sd1 / Math.SQRT2, sd1 / Math.SQRT2, '#059669');
                axis(sd2 / Math.SQRT2, sd2 / Math.SQRT2, '#7c3aed');
              }
              ctx.restore();
            },
          ],
        },
      })}
      optsKey={`poincare:${range.join(',')}:${sd1}:${sd2}:${meanNn}`}
      data={data}
      height={height}
      testId="poincare"
      label={`Poincaré plot: ${x.length} pairs, SD1 ${sd1?.toFixed(1) ?? '—'} ms, SD2 ${sd2?.toFixed(1) ?? '—'} ms`}
    />
  );
}

export function RrHistogram({ a, height = 220 }: { a: WindowAnalysis; height?: number }) {
  const { binsMs, counts, binWidthMs } = a.histogram;
  const data = useMemo(() => [binsMs, counts] as uPlot.AlignedData, [binsMs, counts]);
  return (
    <Plot
      make={(w, h) => ({
        width: w,
        height: h,
        series: [
          { label: 'RR', value: ms },
          {
            label: 'NN intervals',
            stroke: '#0f766e',
            fill: 'rgba(15, 118, 110, 0.45)',
            paths: uPlot.paths.bars!({ size: [1, 100], align: 1 }),
            points: { show: false },
          },
        ],
        scales: { x: { time: false, range: (_u, lo, hi) => [lo - binWidthMs, hi + 2 * binWidthMs] } },
        axes: [{ label: `RR (ms), bins of ${binWidthMs.toFixed(2)} ms` }, { label: 'count', size: 46 }],
        legend: { show: false },
      })}
      optsKey="hist"
      data={data}
      height={height}
      testId="rr-histogram"
      label={`NN interval histogram: ${counts.reduce((s, c) => s + c, 0)} intervals`}
    />
  );
}

export function Spectrum({ a, height = 220 }: { a: WindowAnalysis; height?: number }) {
  const s = useMemo(() => (a.psd ? spectrumData(a.psd) : { x: [], y: [] }), [a.psd]);
  const data = useMemo(() => [s.x, s.y] as uPlot.AlignedData, [s]);
  return (
    <Plot
      make={(w, h) => ({
        width: w,
        height: h,
        series: [
          { label: 'f', value: (_u, v) => (v === null ? '—' : `${v.toFixed(3)} Hz`) },
          {
            label: 'PSD',
            stroke: '#111827',
            width: 1.5,
            points: { show: false },
            value: (_u, v) => (v === null ? '—' : `${Number(v.toPrecision(3))} ms²/Hz`),
          },
        ],
        scales: { x: { time: false, range: () => [0, 0.5] } },
        axes: [{ label: 'Frequency (Hz)' }, { label: 'ms²/Hz', size: 60 }],
        legend: { show: false },
        hooks: {
          drawClear: [
            (u) => {
              const ctx = u.ctx;
              ctx.save();
              ctx.font = `${12 * devicePixelRatio}px sans-serif`;
              for (const b of SPECTRUM_BANDS) {
                const x0 = u.valToPos(b.range[0], 'x', true);
                const x1 = u.valToPos(b.range[1], 'x', true);
                ctx.fillStyle = b.color;
                ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
                ctx.fillStyle = '#334155';
                // VLF is narrow on a 0–0.5 Hz axis: its label goes below the others rather than over LF's.
                const row = x1 - x0 < ctx.measureText(b.label).width + 8 * devicePixelRatio ? 2 : 1;
                ctx.fillText(b.label, x0 + 4 * devicePixelRatio, u.bbox.top + 14 * row * devicePixelRatio);
              }
              ctx.restore();
            },
          ],
        },
      })}
      optsKey="spectrum"
      data={data}
      height={height}
      testId="spectrum"
      label={a.psd ? `Power spectrum (${PSD_METHOD_NAME}), ${a.psd.segments} segment(s) of ${a.psd.segmentS.toFixed(0)} s` : 'Power spectrum: window too short'}
    />
  );
}
