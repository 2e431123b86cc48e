/**
 * The dashboard on the REAL demo: `runDemo` in-process (secure mode: synthetic sensors → MQTT → gateway →
 * sealed files over SFTP → the enclave child → verified results → the CSP over HTTP with the gateway's device
 * credential), then Debian's Chromium (playwright-core) logs in with the logins the demo wrote and checks
 * what a doctor and a health worker see. Nothing is hand-fed: every number on the page came through the
 * pipeline (or, for the health worker, through the API's upload parser).
 *
 * The sensors run a fixed simulated span; the demo then drains (every result delivered to the CSP) and
 * calls `beforeSummary`, which this test holds open until the browser checks are done, so the stack stays
 * up with a complete, no longer changing set of records. `stopSignal` ends the run early when start-up
 * fails part-way. Waits are on readiness (selectors, responses, results), never fixed sleeps.
 *
 * Skips with a printed reason when /usr/bin/chromium is missing. HRVAULT_UPDATE_SCREENSHOT=1 writes the
 * screenshots to docs/img/ (dashboard.png, patient-plots.png); otherwise to a temp dir.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { runDemo, type DemoContext, type DemoSummary } from '../commands/index.js';
import type { DemoCredential } from '../csp/index.js';
import type { GatewayResult } from '../gateway/index.js';
import { hasSharedData, readBeats, SHARED_DATA_SKIP_REASON } from '../test-support/shared-data.js';
import { CHROMIUM, haveChromium, launchDashboardBrowser } from '../test-support/chromium.js';
import {
  UI_TIMEOUT,
  ensureDashboardBuilt,
  expectDrawn,
  formatMeasure,
  numeric,
  openPatient,
  signIn,
} from '../test-support/dashboard.js';

if (!haveChromium)
  console.log(`demo.int.test: skipped — ${CHROMIUM} is missing (apt-get install -y chromium)`);

const repo = fileURLToPath(new URL('../../', import.meta.url));
const updateScreenshots = process.env.HRVAULT_UPDATE_SCREENSHOT === '1';

/** Synthetic patients; doctor1 is assigned P0001 and P0003, worker1 P0001 (createDemoUsers spreads them). */
const PATIENTS = 3;
/** Simulated seconds of monitoring: two full 5-minute windows. */
const DURATION_S = 600;
/** Simulated seconds per real second: the sensors' 600 s take 20 s. */
const SPEED = 30;
const PATIENT = 'P0001';
const DOCTOR = 'doctor1';
const WORKER = 'worker1';

const log = (msg: string) => console.log(`demo.int.test: ${msg}`);

/** ~5½ minutes of RR intervals of MIT-BIH record 100 (expert-annotated beats) as an `rr_ms` CSV. */
function rrFileFromRecord100(): string {
  const beats = readBeats('100').filter((b) => b.tS <= 330);
  const rr: string[] = [];
  for (let i = 1; i < beats.length; i++)
    rr.push(String(Math.round((beats[i]!.tS - beats[i - 1]!.tS) * 1000)));
  return `# MIT-BIH Arrhythmia DB record 100, first 330 s, RR from the annotated beats\nrr_ms\n${rr.join('\n')}\n`;
}

/** `n` bytes of noise, the same every run (a 32-bit xorshift), so a failure reproduces. */
function noise(n: number, seed = 0x9e3779b9): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

describe.skipIf(!haveChromium)('the real demo in Chromium', () => {
  let tmp: string;
  let creds: DemoCredential[];
  let demo: DemoContext;
  let baseUrl: string;
  let ctx: BrowserContext;
  let page: Page;
  let summary: Promise<DemoSummary>;
  let stop!: () => void;
  let release!: () => void;
  const results: GatewayResult[] = [];
  const stderr: string[] = [];
  const errors: string[] = [];
  const screenshotDir = updateScreenshots ? join(repo, 'docs/img') : '';

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'hrvault-demo-web-'));
    // The demo serves dist/web when it is built; build it when it is not, or when one of its sources changed.
    ensureDashboardBuilt(log);
  }, 170_000);

  beforeAll(async () => {
    const t0 = performance.now();
    const credentialsFile = join(tmp, 'logins.json');
    const stopSignal = new Promise<void>((r) => (stop = r));
    const held = new Promise<void>((r) => (release = r));
    let started!: (c: DemoContext) => void;
    const startedP = new Promise<DemoContext>((r) => (started = r));
    let drained!: () => void;
    const drainedP = new Promise<void>((r) => (drained = r));
    // Simulated time ends about a minute before the run does, so "last data" reads like a live monitor and an
    // upload that ends now is the newest window.
    const startMs = Date.now() - DURATION_S * 1000 + (DURATION_S / SPEED) * 1000 - 60_000;
    summary = runDemo(
      {
        patients: PATIENTS,
        durationS: DURATION_S,
        batchIntervalS: 0.5,
        mode: 'secure',
        speed: SPEED,
        seed: 1,
        startMs,
        dataDir: join(tmp, 'demo'),
        access: { port: 0, credentialsFile, paillierBits: 1024 },
        stopSignal,
        onResult: (r) => results.push(r),
        onStarted: (c) => started(c),
        // Every result is delivered to the CSP by now; the stack stays up until the browser checks end.
        beforeSummary: async () => {
          drained();
          await held;
        },
      },
      { out: () => undefined, err: (t) => void stderr.push(t) },
    );
    // A start-up failure rejects `summary` before onStarted: fail with its error, not a timeout.
    summary.catch(() => undefined);
    demo = await Promise.race([
      startedP,
      summary.then(() => Promise.reject(new Error('the demo ended before it started'))),
    ]);
    baseUrl = demo.apiUrl!;
    expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    log(`demo up at ${baseUrl} after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    creds = JSON.parse(readFileSync(credentialsFile, 'utf8')) as DemoCredential[];
    await Promise.race([
      drainedP,
      summary.then(() => Promise.reject(new Error('the demo ended without draining'))),
    ]);
    const mine = results.filter((r) => r.patient === PATIENT);
    log(
      `demo drained after ${((performance.now() - t0) / 1000).toFixed(1)} s: ${results.length} verified results, ` +
        `${mine.filter((r) => r.body.window.measures?.sdnn_ms != null && !r.body.window.partial).length} full windows with measures for ${PATIENT}`,
    );
    // The pipeline produced what the page is about to show: full 5-minute windows with measures.
    expect(
      mine.some((r) => !r.body.window.partial && typeof r.body.window.measures?.sdnn_ms === 'number'),
    ).toBe(true);

    ctx = await launchDashboardBrowser(join(tmp, 'profile'));
    page = ctx.pages()[0] ?? (await ctx.newPage());
    page.setDefaultTimeout(UI_TIMEOUT);
    page.on('pageerror', (e) => errors.push(e.message));
  }, 150_000);

  afterAll(async () => {
    await ctx?.close();
    stop?.();
    release?.();
    if (summary) {
      const s = await summary.catch((err: unknown) => {
        log(`the demo failed: ${String(err)}\n${stderr.join('')}`);
        return null;
      });
      if (s)
        log(
          `summary: ${s.results_verified} results verified, ${s.records_ingested} stored, lost ${s.lost}, wall ${s.wall_s} s`,
        );
    }
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }, 60_000);

  /** Who is signed in: the whole login goes through the form, with a login from the demo's credentials file. */
  let signedIn: string | null = null;
  const loginAs = async (username: string) => {
    if (signedIn === username && (await page.getByRole('button', { name: 'Log out' }).count()) > 0) return;
    signedIn = null;
    const cred = creds.find((c) => c.username === username);
    expect(cred, `${username} in the demo's credentials file`).toBeDefined();
    await signIn(page, username, cred!.password);
    signedIn = username;
  };

  /** The newest window the enclave computed for `patient`, as the gateway verified it. */
  const latestWindow = (patient: string) =>
    results
      .filter((r) => r.patient === patient)
      .sort((a, b) => a.body.window.end_ms - b.body.window.end_ms)
      .at(-1)!.body.window;
  const fmt = formatMeasure;

  it('a doctor sees their patients, the enclave’s SDNN and RMSSD, and the four plots drawn', async () => {
    await page.goto(`${baseUrl}/`);
    await loginAs(DOCTOR);
    await page.getByRole('heading', { name: 'My patients' }).waitFor();
    const rows = page.getByTestId('patient-list').locator('tbody tr');
    for (const id of ['P0001', 'P0003']) await rows.filter({ hasText: id }).waitFor();
    expect(await rows.count()).toBe(2);

    await openPatient(page, PATIENT);
    // The latest window's numbers are the enclave's, as the gateway verified and delivered them.
    const latest = latestWindow(PATIENT);
    await expect
      .poll(() => page.getByTestId('latest-sdnn_ms').textContent(), { timeout: UI_TIMEOUT })
      .toBe(fmt(latest.measures?.sdnn_ms));
    await expect
      .poll(() => page.getByTestId('latest-rmssd_ms').textContent(), { timeout: UI_TIMEOUT })
      .toBe(fmt(latest.measures?.rmssd_ms));
    // The selected window's tables (computed in the browser from the stored beats) are numeric too.
    for (const id of ['measure-sdnn_ms', 'measure-rmssd_ms'])
      await expect
        .poll(() => page.getByTestId(id).first().textContent(), { timeout: UI_TIMEOUT, message: id })
        .toSatisfy(numeric);
    log(
      `${PATIENT}: enclave SDNN ${fmt(latest.measures?.sdnn_ms)} ms, RMSSD ${fmt(latest.measures?.rmssd_ms)} ms; ` +
        `window panel SDNN ${await page.getByTestId('measure-sdnn_ms').first().textContent()} ms, ` +
        `RMSSD ${await page.getByTestId('measure-rmssd_ms').first().textContent()} ms`,
    );
    for (const id of ['tachogram', 'poincare', 'rr-histogram', 'spectrum']) await expectDrawn(page, id, log);

    if (updateScreenshots) await mkdir(screenshotDir, { recursive: true });
    const shotDir = updateScreenshots ? screenshotDir : tmp;
    await page.evaluate(() => window.scrollTo(0, 0));
    // The page from its top to the end of the selected window: latest measures, tachogram, trends, and the
    // window's tables with the Poincaré plot, histogram and spectrum.
    const panel = await page.locator('section.window-panel').boundingBox();
    expect(panel).not.toBeNull();
    await page.screenshot({
      path: join(shotDir, 'dashboard.png'),
      fullPage: true,
      clip: { x: 0, y: 0, width: 1280, height: Math.ceil(panel!.y + panel!.height + 16) },
    });
    // The selected window's panel: its measure tables and the Poincaré plot, histogram and spectrum.
    await page.locator('section.window-panel').screenshot({ path: join(shotDir, 'patient-plots.png') });
    log(`screenshots: ${join(shotDir, 'dashboard.png')}, ${join(shotDir, 'patient-plots.png')}`);
    expect(errors).toEqual([]);
  });

  it('a page reload keeps the doctor’s session and page', async () => {
    await loginAs(DOCTOR);
    if (new URL(page.url()).hash !== `#/patient/${PATIENT}`) await openPatient(page, PATIENT);
    await page.reload();
    // Whichever comes first: the patient's page again, or the login form.
    const head = page.locator('.patient-head').getByText(PATIENT, { exact: true });
    const loginForm = page.getByRole('button', { name: 'Sign in' });
    await head.or(loginForm).first().waitFor();
    const onLogin = await loginForm.isVisible();
    if (onLogin) signedIn = null;
    expect(
      onLogin,
      'after a reload the login form shows instead of the patient page (the session was not restored)',
    ).toBe(false);
    expect(new URL(page.url()).hash).toBe(`#/patient/${PATIENT}`);
    await expect
      .poll(() => page.getByTestId('latest-sdnn_ms').textContent(), { timeout: UI_TIMEOUT })
      .toBe(fmt(latestWindow(PATIENT).measures?.sdnn_ms));
    await expectDrawn(page, 'tachogram', log);
  });

  it('the records list names the gateway as the author of the pipeline’s records', async () => {
    await loginAs(DOCTOR);
    if ((await page.locator('.patient-head').getByText(PATIENT, { exact: true }).count()) === 0)
      await openPatient(page, PATIENT);
    const row = page.getByTestId('records').locator('tbody tr', { hasText: 'HRV window' }).first();
    await row.waitFor();
    const by = (await row.locator('td.author').textContent()) ?? '';
    log(`author shown for a pipeline HRV record: "${by}"`);
    expect(by, 'the By column of a pipeline record (author device:gw1)').toMatch(/gw1/);
  });

  describe.skipIf(!hasSharedData())('a health worker’s uploads', () => {
    if (!hasSharedData()) log(SHARED_DATA_SKIP_REASON);
    const form = () => page.locator('form[aria-labelledby=upload-title]');
    const pager = () => page.locator('section[aria-labelledby=records-title] .pager');
    /** The patient's record count, as the records list's pager shows it. */
    const total = async () => Number(/of (\d+)/.exec((await pager().textContent()) ?? '')?.[1] ?? NaN);
    const uploadResponse = () =>
      page.waitForResponse(
        (r) => r.url().endsWith(`/api/v1/patients/${PATIENT}/records`) && r.request().method() === 'POST',
        {
          timeout: UI_TIMEOUT,
        },
      );
    const onPatientAsWorker = async () => {
      await loginAs(WORKER);
      if ((await page.locator('.patient-head').getByText(PATIENT, { exact: true }).count()) === 0)
        await openPatient(page, PATIENT);
      await expect.poll(() => pager().textContent(), { timeout: UI_TIMEOUT }).toMatch(/of \d+/);
      await form().getByLabel('RR-interval file').check();
    };

    it('4 KiB of noise: the parser’s error naming a line, and nothing stored', async () => {
      await onPatientAsWorker();
      const before = await total();
      await form()
        .locator('input[type=file]')
        .setInputFiles({ name: 'garbage.csv', mimeType: 'text/csv', buffer: noise(4096) });
      const response = uploadResponse();
      await form().getByRole('button', { name: 'Upload' }).click();
      const bad = await response;
      log(`garbage upload: HTTP ${bad.status()}`);
      const message = page.getByTestId('upload-error');
      await message.or(form().getByText('garbage.csv uploaded.')).first().waitFor();
      expect(bad.status(), 'the API accepted 4 KiB of noise as an RR file').toBe(422);
      const text = (await message.textContent()) ?? '';
      log(`garbage upload error: ${text}`);
      expect(text).toMatch(/garbage\.csv:\d+|line \d+/i);
      // The records, reloaded from the server: as many as before, none of them the file.
      await page
        .locator('section[aria-labelledby=records-title]')
        .getByRole('button', { name: 'Apply' })
        .click();
      await expect.poll(total, { timeout: UI_TIMEOUT }).toBe(before);
      expect(await page.getByTestId('records').locator('tr', { hasText: 'garbage.csv' }).count()).toBe(0);
    });

    it('5½ minutes of record 100’s RR intervals: stored, parsed, and its HRV shown', async () => {
      await onPatientAsWorker();
      const before = await total();
      await form()
        .locator('input[type=file]')
        .setInputFiles({
          name: 'rr-100.csv',
          mimeType: 'text/csv',
          buffer: Buffer.from(rrFileFromRecord100()),
        });
      // The recording starts now (browser-local time, as the form reads it), so its windows are the patient's
      // newest whatever the pipeline's last window: the page's latest measures must then be the file's.
      const nowLocal = await page.evaluate(() => {
        const d = new Date(Date.now() + 1000);
        const p = (n: number): string => String(n).padStart(2, '0');
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
      });
      await form().getByLabel('Recording start').fill(nowLocal);
      const response = uploadResponse();
      await form().getByRole('button', { name: 'Upload' }).click();
      const good = await response;
      const body = (await good.json()) as { data?: { n_intervals?: number; windows?: number } };
      log(
        `good upload: HTTP ${good.status()}, n_intervals ${body.data?.n_intervals}, windows ${body.data?.windows}`,
      );
      expect(good.status()).toBeLessThan(300);
      await form().getByText('rr-100.csv uploaded.').waitFor();
      // What the parser found, in the records list.
      await page.getByTestId('records').locator('tr', { hasText: 'rr-100.csv' }).waitFor();
      await expect.poll(total, { timeout: UI_TIMEOUT }).toBeGreaterThan(before);
      expect(
        body.data?.windows ?? 0,
        'the stored file record has no `windows` (the upload was not analysed)',
      ).toBeGreaterThanOrEqual(1);
      await page
        .getByTestId('records')
        .locator('tr', { hasText: 'rr-100.csv' })
        .filter({ hasText: /\d+ intervals, \d+ windows/ })
        .waitFor();
      // The upload's windows are the newest, so the latest measures are the file's, and numeric.
      await page
        .locator('section.latest')
        .getByText(/from file rr-100\.csv/)
        .waitFor();
      for (const id of ['latest-sdnn_ms', 'latest-rmssd_ms'])
        await expect
          .poll(() => page.getByTestId(id).textContent(), { timeout: UI_TIMEOUT, message: id })
          .toSatisfy(numeric);
      log(
        `upload HRV on the page: SDNN ${await page.getByTestId('latest-sdnn_ms').textContent()} ms, RMSSD ${await page.getByTestId('latest-rmssd_ms').textContent()} ms`,
      );
      expect(errors).toEqual([]);
    });
  });
});
