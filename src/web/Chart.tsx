/** uPlot charts that follow their container's width: a generic Plot, and the trend chart built on it. */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import type { ChartSeries } from './hrv-model.js';
import { fmtDateTime } from './format.js';

/**
 * One uPlot instance. `make` builds the options for a width (called again only when `optsKey` changes);
 * data changes go through setData, so a live update never rebuilds the chart.
 */
export function Plot({
  make,
  optsKey,
  data,
  height,
  testId,
  label,
  onReady,
}: {
  make: (width: number, height: number) => uPlot.Options;
  optsKey: string;
  data: uPlot.AlignedData;
  height: number;
  testId?: string;
  label: string;
  onReady?: (u: uPlot | null) => void;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const dataRef = useRef(data);
  dataRef.current = data;
  const makeRef = useRef(make);
  makeRef.current = make;
  const readyRef = useRef(onReady);
  readyRef.current = onReady;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(200, el.clientWidth);
    const u = new uPlot(makeRef.current(width, height), dataRef.current, el);
    plot.current = u;
    readyRef.current?.(u);
    let last = width;
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== last) {
        last = w;
        u.setSize({ width: w, height });
      }
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      readyRef.current?.(null);
      u.destroy();
      plot.current = null;
    };
  }, [optsKey, height]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return <div ref={box} className="plot" data-testid={testId} role="img" aria-label={label} />;
}

export interface ChartLine {
  label: string;
  color: string;
  unit: string;
}

/** A time-series trend: x in epoch seconds, lines with points. */
export function Chart({
  title,
  data,
  lines,
  height = 200,
  testId,
}: {
  title: string;
  data: ChartSeries;
  lines: readonly ChartLine[];
  height?: number;
  testId?: string;
}) {
  const key = lines.map((l) => l.label).join('|');
  const make = (width: number, h: number): uPlot.Options => ({
    width,
    height: h,
    series: [
      { value: (_u: uPlot, v: number | null) => (v === null ? '—' : fmtDateTime(v * 1000)) },
      ...lines.map((l) => ({
        label: l.label,
        stroke: l.color,
        width: 1.5,
        spanGaps: false,
        points: { show: data.x.length < 400, size: 4 },
        value: (_u: uPlot, v: number | null) => (v === null ? '—' : `${Number(v.toPrecision(3))} ${l.unit}`),
      })),
    ],
    axes: [{}, { label: [...new Set(lines.map((l) => l.unit))].filter(Boolean).join(', '), size: 60 }],
    scales: { x: { time: true } },
    legend: { live: true },
  });
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <Plot
        make={make}
        optsKey={`${key}:${data.x.length < 400}`}
        data={[data.x, ...data.ys] as uPlot.AlignedData}
        height={height}
        label={`${title}: ${data.x.length} windows`}
        {...(testId ? { testId } : {})}
      />
    </figure>
  );
}
