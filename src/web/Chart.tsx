/** A uPlot time-series chart that follows its container's width. */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import type { ChartSeries } from './model.js';

export interface ChartLine {
  label: string;
  color: string;
  unit: string;
}

export function Chart({
  title,
  data,
  lines,
  height = 200,
}: {
  title: string;
  data: ChartSeries;
  lines: readonly ChartLine[];
  height?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  // Recreated when the set of lines changes; data updates go through setData below.
  const key = lines.map((l) => l.label).join('|');
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      series: [
        {},
        ...lines.map((l) => ({
          label: l.label,
          stroke: l.color,
          width: 2,
          spanGaps: false,
          points: { show: true, size: 5 },
          value: (_u: uPlot, v: number | null) =>
            v === null ? '—' : `${Number(v.toPrecision(3))} ${l.unit}`,
        })),
      ],
      axes: [{}, { label: [...new Set(lines.map((l) => l.unit))].join(', '), size: 60 }],
      scales: { x: { time: true } },
      legend: { live: true },
    };
    const u = new uPlot(opts, [[], ...lines.map(() => [])] as uPlot.AlignedData, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [key, height]);

  useEffect(() => {
    plot.current?.setData([data.x, ...data.ys] as uPlot.AlignedData);
  }, [data, key]);

  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={`${title}: ${data.x.length} points`} />
    </figure>
  );
}
