/**
 * Frame time of the dashboard's tachogram with 100,000 beats, in the browser: the same options
 * (tachogramOptions) and data path (cleanBeats → tachogramData) as the patient page. Beats come from the
 * synthetic sensor (about 24 h at 70 bpm, with ectopy). Results land in `window.__perf`; run by
 * tachogram-perf.int.test.ts.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { syntheticPatients, syntheticSeries } from '../../sensor/index.js';
import { cleanBeats, tachogramData } from '../beats.js';
import { tachogramOptions } from '../HrvPlots.js';

export interface PerfResult {
  beats: number;
  points: number;
  cleanMs: number;
  excluded: number;
  corrected: number;
  firstDrawMs: number;
  redraw: number[];
  zoom: number[];
  frameIntervals: number[];
}

const frame = () => new Promise<number>((r) => requestAnimationFrame(r));

async function run(n: number): Promise<PerfResult> {
  const params = syntheticPatients(1, 7, 1)[0]!;
  // Long enough for n beats at any synthetic rate; trimmed to exactly n.
  const s = syntheticSeries({ ...params, ectopicRate: 0.004 }, Math.ceil((n * 1.6) / 1));
  const start = Date.UTC(2026, 11, 1);
  const input = { tMs: s.tMs.slice(0, n).map((t) => t + start), rrMs: s.rrMs.slice(0, n) };
  const t0 = performance.now();
  const cleaned = cleanBeats(input);
  const data = tachogramData(cleaned);
  const cleanMs = performance.now() - t0;
  const { n_excluded: excluded, n_corrected: corrected } = cleaned.report;

  let drawStart = 0;
  const draws: number[] = [];
  const opts = tachogramOptions(1400, 300);
  opts.hooks = {
    ...opts.hooks,
    drawClear: [...(opts.hooks?.drawClear ?? []), () => void (drawStart = performance.now())],
    draw: [() => void draws.push(performance.now() - drawStart)],
  };
  const t1 = performance.now();
  const u = new uPlot(opts, data as unknown as uPlot.AlignedData, document.getElementById('plot')!);
  await frame();
  const firstDrawMs = performance.now() - t1;

  const measure = async (act: () => void): Promise<number> => {
    const before = draws.length;
    const a = performance.now();
    act();
    await frame();
    // The draw time from uPlot's own hooks when it drew; the wall time of the call otherwise.
    return draws.length > before ? draws[draws.length - 1]! : performance.now() - a;
  };
  const redraw: number[] = [];
  for (let k = 0; k < 20; k++) redraw.push(await measure(() => u.redraw(true, true)));
  const x = data[0];
  const lo = x[0]!;
  const hi = x[x.length - 1]!;
  const zoom: number[] = [];
  // Zoom in step by step to a 5-minute stretch, then back out (as a drag-zoom and a double-click do).
  for (let k = 0; k < 20; k++) {
    const span = (hi - lo) * Math.pow(300 / (hi - lo), k / 19);
    const mid = lo + (hi - lo) * 0.6;
    zoom.push(await measure(() => u.setScale('x', { min: mid - span / 2, max: mid + span / 2 })));
  }
  zoom.push(await measure(() => u.setScale('x', { min: lo, max: hi })));
  // Frame pacing while the cursor moves over the full 100,000 points.
  const frameIntervals: number[] = [];
  let last = await frame();
  for (let k = 0; k < 30; k++) {
    u.setCursor({ left: 20 + k * 40, top: 100 });
    const t = await frame();
    frameIntervals.push(t - last);
    last = t;
  }
  return { beats: n, points: x.length, cleanMs, excluded, corrected, firstDrawMs, redraw, zoom, frameIntervals };
}

declare global {
  interface Window {
    __perf?: PerfResult | { error: string };
  }
}

run(100_000)
  .then((r) => (window.__perf = r))
  .catch((e: unknown) => (window.__perf = { error: String(e) }));
