/**
 * Line plots as plain SVG text (no plotting dependency): a few series on shared axes, optional horizontal reference
 * lines (the batch interval), linear or log-10 x axis. Small on purpose: what docs/benchmarks.md needs.
 */

export interface Series {
  name: string;
  color: string;
  points: readonly { x: number; y: number }[];
  /** Dashed line (e.g. the original study's figures). */
  dashed?: boolean;
}

export interface PlotSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** Horizontal lines across the plot, e.g. `{ y: 10_000, label: '10-s batch interval' }`. */
  hLines?: readonly { y: number; label: string }[];
  /** Vertical lines, e.g. the original study's largest stable client counts; drawn only inside the x range. */
  vLines?: readonly { x: number; label: string; color: string }[];
  logX?: boolean;
  width?: number;
  height?: number;
}

/** Escapes text for SVG content and attributes. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** "Nice" tick values covering [lo, hi]: steps of 1, 2 or 5 × 10^k, about `n` of them. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= 0.7 * raw) ?? 10) * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number((Math.round(v / step) * step).toPrecision(12)));
  return out;
}

/** A compact number label: 1500 → "1.5k", 20000 → "20k", 0.25 → "0.25". */
export function fmtTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

/** Renders the plot as a standalone SVG document. */
export function renderPlot(p: PlotSpec): string {
  const W = p.width ?? 640;
  const H = p.height ?? 400;
  const rows = Math.max(1, Math.ceil(p.series.length / 3));
  const m = { l: 64, r: 16, t: 36, b: 56 + 16 * rows };
  const pts = p.series.flatMap((s) => s.points).filter((q) => Number.isFinite(q.x) && Number.isFinite(q.y) && (!p.logX || q.x > 0));
  const ys = [...pts.map((q) => q.y), ...(p.hLines ?? []).map((h) => h.y), 0];
  const yHi = Math.max(...ys) * 1.08 || 1;
  const yTicks = niceTicks(0, yHi);
  const yMax = Math.max(yHi, yTicks.at(-1)!);
  const xs = pts.map((q) => q.x);
  let xLo = xs.length ? Math.min(...xs) : p.logX ? 1 : 0;
  let xHi = xs.length ? Math.max(...xs) : p.logX ? 10 : 1;
  if (xHi === xLo) [xLo, xHi] = p.logX ? [xLo / 2, xHi * 2] : [xLo - 1, xHi + 1];
  const tx = p.logX ? (x: number): number => Math.log10(x) : (x: number): number => x;
  const X = (x: number): number => m.l + ((tx(x) - tx(xLo)) / (tx(xHi) - tx(xLo))) * (W - m.l - m.r);
  const Y = (y: number): number => H - m.b - (y / yMax) * (H - m.t - m.b);
  const xTicks = p.logX ? decades(xLo, xHi) : niceTicks(xLo, xHi);
  const f = (v: number): string => v.toFixed(1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(p.title)}</text>`,
  ];
  for (const v of yTicks) out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${f(Y(v))}" y2="${f(Y(v))}" stroke="#ddd"/><text x="${m.l - 6}" y="${f(Y(v) + 4)}" text-anchor="end">${fmtTick(v)}</text>`);
  for (const v of xTicks) out.push(`<line x1="${f(X(v))}" x2="${f(X(v))}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/><text x="${f(X(v))}" y="${H - m.b + 16}" text-anchor="middle">${fmtTick(v)}</text>`);
  out.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - m.b + 34}" text-anchor="middle">${escapeXml(p.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(p.yLabel)}</text>`);
  for (const h of p.hLines ?? []) {
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${f(Y(h.y))}" y2="${f(Y(h.y))}" stroke="#c00" stroke-dasharray="6 4"/><text x="${W - m.r - 4}" y="${f(Y(h.y) - 4)}" text-anchor="end" fill="#c00">${escapeXml(h.label)}</text>`);
  }
  (p.vLines ?? []).forEach((v, i) => {
    if (!(v.x >= xLo && v.x <= xHi)) return;
    out.push(`<line x1="${f(X(v.x))}" x2="${f(X(v.x))}" y1="${m.t}" y2="${H - m.b}" stroke="${v.color}" stroke-dasharray="2 3"/><text x="${f(X(v.x) + 4)}" y="${H - m.b - 8 - i * 14}" fill="${v.color}">${escapeXml(v.label)}</text>`);
  });
  p.series.forEach((s, i) => {
    const sp = [...s.points].filter((q) => Number.isFinite(q.x) && Number.isFinite(q.y) && (!p.logX || q.x > 0)).sort((a, b) => a.x - b.x);
    const dash = s.dashed ? ' stroke-dasharray="3 3"' : '';
    if (sp.length > 1) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${sp.map((q) => `${f(X(q.x))},${f(Y(q.y))}`).join(' ')}"/>`);
    for (const q of sp) out.push(`<circle cx="${f(X(q.x))}" cy="${f(Y(q.y))}" r="3" fill="${s.color}"/>`);
    const lx = m.l + 8 + (i % 3) * 200;
    const ly = H - 14 - (rows - 1 - Math.floor(i / 3)) * 16;
    out.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${dash}/><text x="${lx + 22}" y="${ly}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function decades(lo: number, hi: number): number[] {
  if (!(lo > 0 && hi >= lo && Number.isFinite(hi))) return [];
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const k of [1, 2, 5]) {
      const v = k * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out.length > 0 ? out : [lo, hi];
}
