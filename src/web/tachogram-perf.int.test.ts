/**
 * The tachogram with 100,000 beats in Chromium (software rendering, headless): how long a full redraw and a
 * zoom step take. Prints the numbers; fails only if a frame is far beyond what feels smooth.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PerfResult } from './perf/tachogram-perf.js';

const CHROMIUM = '/usr/bin/chromium';
const repo = fileURLToPath(new URL('../../', import.meta.url));

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

describe.skipIf(!existsSync(CHROMIUM))('tachogram frame time, 100,000 beats', () => {
  let tmp: string;
  let server: Server;
  let url: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'hrvault-perf-'));
    const { build } = await import('vite');
    await build({
      root: join(repo, 'src/web/perf'),
      base: './',
      logLevel: 'error',
      build: { outDir: join(tmp, 'www'), emptyOutDir: true },
    });
    const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
    server = createServer((req, res) => {
      const path = join(tmp, 'www', req.url === '/' ? 'index.html' : (req.url ?? '').replace(/\.\.+/g, ''));
      readFile(path)
        .then((b) => res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(b))
        .catch(() => res.writeHead(404).end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/`;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('redraws and zooms within a frame budget', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1440, height: 400 } });
      await page.goto(url);
      await page.waitForFunction(() => window.__perf !== undefined, undefined, { timeout: 60_000 });
      const r = (await page.evaluate(() => window.__perf)) as PerfResult | { error: string };
      if ('error' in r) throw new Error(r.error);
      const line = (name: string, xs: number[]) =>
        `${name}: median ${pct(xs, 50).toFixed(1)} ms, p95 ${pct(xs, 95).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`;
      console.log(
        [
          `tachogram, ${r.beats} beats (${r.points} x values; ${r.excluded} excluded, ${r.corrected} corrected), Chromium headless:`,
          `clean + series ${r.cleanMs.toFixed(0)} ms; first draw ${r.firstDrawMs.toFixed(0)} ms`,
          line('full redraw', r.redraw),
          line('zoom step', r.zoom),
          line('frame interval with cursor moving', r.frameIntervals),
        ].join('\n  '),
      );
      expect(r.beats).toBe(100_000);
      expect(pct(r.redraw, 50)).toBeLessThan(100);
      expect(pct(r.zoom, 50)).toBeLessThan(100);
    } finally {
      await browser.close();
    }
  });
});
