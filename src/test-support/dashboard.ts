/// <reference lib="dom" />
/**
 * Driving the built dashboard in Chromium, for the browser tests on the real demo and on a deployment of separate
 * processes: building it when its sources changed, signing in through the form, opening a patient, and reading
 * back whether a chart has data drawn on it (pixels, not just a canvas element).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { Locator, Page } from 'playwright-core';

const repo = fileURLToPath(new URL('../../', import.meta.url));
/** Where `hrvault demo` and `hrvault serve` serve the dashboard from (DASHBOARD_ROOT of src/commands/access.ts). */
export const DASHBOARD_ROOT = join(repo, 'dist/web');
/** Deadline of one readiness wait in the browser (a loaded 2-core CI machine renders slowly), ms. */
export const UI_TIMEOUT = 30_000;

const dashboardBuilt = (): boolean => existsSync(join(DASHBOARD_ROOT, 'index.html'));

/** A source of the dashboard bundle modified after `builtMs`, or null. */
function newerSource(builtMs: number): string | null {
  for (const dir of ['src/web', 'src/hrv', 'src/contracts']) {
    for (const f of readdirSync(join(repo, dir), { recursive: true, encoding: 'utf8' })) {
      if (!/\.(tsx?|html|css)$/.test(f) || /\.test\.tsx?$/.test(f)) continue;
      if (statSync(join(repo, dir, f)).mtimeMs > builtMs) return join(dir, f);
    }
  }
  return null;
}

/** Builds dist/web when it is missing or older than a source it is made of (src/web, src/hrv, src/contracts). */
export function ensureDashboardBuilt(log: (msg: string) => void): void {
  const stale = dashboardBuilt() ? newerSource(statSync(join(DASHBOARD_ROOT, 'index.html')).mtimeMs) : 'missing';
  if (stale === null) return;
  log(`building the dashboard (${stale === 'missing' ? 'dist/web is missing' : `${stale} is newer than dist/web`})`);
  const t0 = performance.now();
  const r = spawnSync('npm', ['run', 'build:web'], { cwd: repo, encoding: 'utf8', timeout: 150_000 });
  if (r.status !== 0) throw new Error(`npm run build:web failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  log(`built the dashboard into ${DASHBOARD_ROOT} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  expect(dashboardBuilt()).toBe(true);
}

/** What one canvas (or svg) inside a chart's box shows. */
export interface Drawn {
  kind: 'canvas' | 'svg';
  /** CSS size. */
  w: number;
  h: number;
  /** Canvas: painted, non-white pixels anywhere. Svg: drawn shapes. */
  ink: number;
  /**
   * Canvas: pixels of data inside the plot area (uPlot's `.u-over`): opaque and coloured, or near-black
   * (the spectrum's line). Axes and grid are grey and outside or faint; band and window shading is translucent.
   */
  dataInk: number;
}

/** Size and drawn pixels of every canvas (or svg) inside `box`, read back from the page. */
export async function drawn(box: Locator): Promise<Drawn[]> {
  return box.evaluate((el) => {
    const out: Drawn[] = [];
    const over = el.querySelector('.u-over')?.getBoundingClientRect();
    for (const c of Array.from(el.querySelectorAll('canvas'))) {
      const r = c.getBoundingClientRect();
      let ink = 0;
      let dataInk = 0;
      const ctx = c.getContext('2d');
      if (ctx && c.width > 0 && c.height > 0 && r.width > 0) {
        const px = ctx.getImageData(0, 0, c.width, c.height).data;
        const k = c.width / r.width;
        // The plot area in canvas pixels (the whole canvas when there is no overlay).
        const x0 = over ? Math.max(0, Math.floor((over.left - r.left) * k)) : 0;
        const y0 = over ? Math.max(0, Math.floor((over.top - r.top) * k)) : 0;
        const x1 = over ? Math.min(c.width, Math.ceil((over.right - r.left) * k)) : c.width;
        const y1 = over ? Math.min(c.height, Math.ceil((over.bottom - r.top) * k)) : c.height;
        for (let y = 0; y < c.height; y++)
          for (let x = 0; x < c.width; x++) {
            const i = (y * c.width + x) * 4;
            const [R, G, B, A] = [px[i]!, px[i + 1]!, px[i + 2]!, px[i + 3]!];
            if (A > 32 && !(R > 240 && G > 240 && B > 240)) ink++;
            if (x < x0 || x >= x1 || y < y0 || y >= y1 || A <= 150) continue;
            const hi = Math.max(R, G, B);
            if (hi - Math.min(R, G, B) > 60 || hi < 45) dataInk++;
          }
      }
      out.push({ kind: 'canvas', w: r.width, h: r.height, ink, dataInk });
    }
    for (const s of Array.from(el.querySelectorAll('svg'))) {
      const r = s.getBoundingClientRect();
      const shapes = s.querySelectorAll('path, circle, rect, line, polyline').length;
      out.push({ kind: 'svg', w: r.width, h: r.height, ink: shapes, dataInk: shapes });
    }
    return out;
  });
}

/** Waits until `testId` holds a canvas/svg of non-zero size with data drawn on it; fails with what it last read. */
export async function expectDrawn(page: Page, testId: string, log: (msg: string) => void): Promise<void> {
  const box = page.getByTestId(testId).first();
  await box.waitFor({ timeout: UI_TIMEOUT });
  const ok = (d: Drawn): boolean => d.w > 50 && d.h > 50 && d.dataInk > (d.kind === 'canvas' ? 150 : 3);
  let last: Drawn[] = [];
  try {
    await expect
      .poll(
        async () => {
          last = await drawn(box);
          return last.some(ok);
        },
        { timeout: UI_TIMEOUT },
      )
      .toBe(true);
  } catch (err) {
    throw new Error(`${testId}: no canvas/svg with data drawn on it; read ${JSON.stringify(last)}`, { cause: err });
  }
  const best = last.filter(ok).sort((a, b) => b.dataInk - a.dataInk)[0]!;
  log(`${testId}: ${best.kind} ${Math.round(best.w)}×${Math.round(best.h)}, ${best.ink} painted pixels, ${best.dataInk} of data`);
}

/** A number as the dashboard formats it, and positive (a dash for none fails). */
export const numeric = (s: string | null): boolean => s !== null && /^-?\d+(\.\d+)?$/.test(s.trim()) && Number(s) > 0;

/** A measure as the dashboard formats it (three significant digits; a dash for none). */
export const formatMeasure = (v: number | null | undefined): string => (v == null ? '—' : String(Number(v.toPrecision(3))));

/** Signs in through the login form (logging out whoever is signed in first). */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  if ((await page.getByRole('button', { name: 'Log out' }).count()) > 0) {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByText('Logged out.').waitFor();
  }
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

/** Opens `patient` from the patient list (the Patients tab) and waits for its live stream. */
export async function openPatient(page: Page, patient: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Patients' }).click();
  await page.getByRole('heading', { name: 'My patients' }).waitFor();
  await page.getByTestId('patient-list').locator('tbody tr', { hasText: patient }).click();
  await page.locator('.patient-head').getByText(patient, { exact: true }).waitFor();
  await page.locator('.live.live').waitFor();
}
