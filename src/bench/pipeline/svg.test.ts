import { describe, expect, it } from 'vitest';
import { escapeXml, fmtTick, niceTicks, renderPlot } from './svg.js';

describe('SVG plots', () => {
  it('nice ticks step by 1, 2 or 5 × 10^k and cover the range', () => {
    expect(niceTicks(0, 10_800)).toEqual([0, 2000, 4000, 6000, 8000, 10_000]);
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 3)).toEqual([3]);
    expect(fmtTick(20_000)).toBe('20k');
    expect(fmtTick(1500)).toBe('1.5k');
    expect(fmtTick(0.25)).toBe('0.25');
  });

  it('draws each series, the reference line, and escapes text', () => {
    const svg = renderPlot({
      title: 'processing <time> & clients',
      xLabel: 'clients',
      yLabel: 'ms',
      logX: true,
      series: [
        { name: 'secure', color: '#d62728', points: [{ x: 100, y: 500 }, { x: 1000, y: 3000 }, { x: 10_000, y: 12_000 }] },
        { name: 'plain', color: '#1f77b4', points: [{ x: 1000, y: 900 }, { x: 100, y: 200 }] },
      ],
      hLines: [{ y: 10_000, label: '10-s batch interval' }],
      vLines: [{ x: 110, label: 'original secure', color: '#d62728' }, { x: 1e6, label: 'out of range', color: '#000' }],
    });
    expect(svg).toContain('original secure');
    expect(svg).not.toContain('out of range');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(5);
    expect(svg).toContain('processing &lt;time&gt; &amp; clients');
    expect(svg).toContain('10-s batch interval');
    expect(svg).not.toContain('NaN');
    // Points are drawn left to right whatever their input order: the plain series' first x is the smaller.
    const plain = /<polyline [^>]*stroke="#1f77b4"[^>]*points="([\d.]+),/.exec(svg);
    const secure = /<polyline [^>]*stroke="#d62728"[^>]*points="([\d.]+),/.exec(svg);
    expect(Number(plain![1])).toBe(Number(secure![1]));
    expect(escapeXml('"a"')).toBe('&quot;a&quot;');
  });

  it('an empty plot is still a valid document, on a log axis too, and non-positive x is left off a log axis', () => {
    for (const logX of [false, true]) {
      const svg = renderPlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [], logX });
      expect(svg).toContain('</svg>');
      expect(svg).not.toMatch(/NaN|Infinity/);
    }
    const svg = renderPlot({ title: 't', xLabel: 'x', yLabel: 'y', logX: true, series: [{ name: 's', color: '#000', points: [{ x: 0, y: 5 }, { x: 10, y: 7 }] }] });
    expect(svg.match(/<circle /g)).toHaveLength(1);
    expect(svg).not.toMatch(/NaN|Infinity/);
  });
});
