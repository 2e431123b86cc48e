/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core against the real access
 * stack serving a fresh build. Skips with a printed reason when /usr/bin/chromium is missing.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { startAccessStack, type AccessStack } from '../api/stack.js';
import { createDemoUsers, type DemoCredential } from '../access/demo-users.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium)
  console.log(`dashboard.int.test: skipped — ${CHROMIUM} is missing (apt-get install -y chromium)`);

const repo = fileURLToPath(new URL('../../', import.meta.url));
// The committed screenshot is refreshed only on request (HRVAULT_UPDATE_SCREENSHOT=1); other runs write to a temp dir.
const screenshot =
  process.env.HRVAULT_UPDATE_SCREENSHOT === '1'
    ? join(repo, 'docs/img/dashboard.png')
    : join(tmpdir(), `hrvault-dashboard-${process.pid}.png`);

describe.skipIf(!haveChromium)('dashboard in Chromium', () => {
  let tmp: string;
  let stack: AccessStack;
  let creds: DemoCredential[];
  let ctx: BrowserContext;
  let page: Page;
  const t0 = Date.now() - 3 * 3600_000;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'hrvault-web-'));
    // Build the current sources, so the test never runs against a stale dist/web.
    const { build } = await import('vite');
    const webRoot = join(tmp, 'web');
    await build({
      configFile: join(repo, 'src/web/vite.config.ts'),
      logLevel: 'error',
      build: { outDir: webRoot, emptyOutDir: true },
    });
    stack = await startAccessStack({ port: 0, paillierBits: 1024, webRoot });
    creds = await createDemoUsers(stack.csp, ['P-001', 'P-002', 'P-003']);
    // Three hours of 5-minute HRV windows for P-001, the last one with an alert.
    for (let i = 0; i < 36; i++) {
      const hr = 68 + 6 * Math.sin(i / 5);
      const sdnn = 52 + 10 * Math.cos(i / 7);
      await stack.csp.ingestHrvResult('P-001', t0 + i * 300_000, {
        mean_nn_ms: 60_000 / hr,
        sdnn_ms: sdnn,
        rmssd_ms: sdnn * 0.7,
        pnn50_pct: 12 + i / 6,
        mean_hr_bpm: hr,
        lf_ms2: 900 + 15 * i,
        hf_ms2: 600 - 5 * i,
        lf_hf: (900 + 15 * i) / (600 - 5 * i),
        ...(i === 35 ? { alerts: [{ code: 'SDNN below the patient’s baseline', severity: 'warning' }] } : {}),
      });
    }
    const { chromium } = await import('playwright-core');
    ctx = await chromium.launchPersistentContext(join(tmp, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
      viewport: { width: 1280, height: 1000 },
    });
    page = ctx.pages()[0] ?? (await ctx.newPage());
    page.setDefaultTimeout(10_000);
  });

  /** Logs out if needed, then in as `username` through the login form. */
  const loginAs = async (username: string) => {
    if ((await page.getByRole('button', { name: 'Log out' }).count()) > 0) {
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByText('Logged out.').waitFor();
    }
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(creds.find((c) => c.username === username)!.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Log out' }).waitFor();
  };

  afterAll(async () => {
    await ctx?.close();
    await stack?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('a doctor logs in, opens a patient, sees trends and the latest measures, prescribes, and sees live data', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(stack.address);
    // A wrong password shows the server's problem detail.
    await page.getByLabel('Username').fill('doctor1');
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/invalid|password|credentials/i);

    const pw = creds.find((c) => c.username === 'doctor1')!.password;
    await page.getByLabel('Password').fill(pw);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'My patients' }).waitFor();
    // doctor1 is assigned P-001 and P-003 only.
    expect(await page.locator('.patient-list button .small').allTextContents()).toEqual(['P-001', 'P-003']);

    await page.getByRole('button', { name: /P-001/ }).click();
    await page.locator('.live.live').waitFor();
    await page.locator('.uplot canvas').first().waitFor();
    expect(await page.locator('.uplot').count()).toBe(4);
    const measures = page.getByTestId('latest-measures');
    await expect.poll(() => measures.textContent()).toContain('SDNN');
    const sdnnRow = await measures.locator('tr', { hasText: 'SDNN' }).first().textContent();
    expect(sdnnRow).toMatch(/SDNN\s*\d+(\.\d+)?\s*ms/);
    expect(await page.getByLabel('HRV alerts').textContent()).toContain('SDNN below the patient’s baseline');

    await page.getByLabel('Medication').fill('Bisoprolol');
    await page.getByLabel('Dose').fill('2.5 mg once daily');
    await page.getByLabel('Instructions').fill('Take in the morning; review in 4 weeks.');
    await page.getByRole('button', { name: 'Prescribe' }).click();
    await page.getByText('Prescription saved.').waitFor();
    const rx = page.getByTestId('records').locator('tr', { hasText: 'Bisoprolol' });
    await rx.waitFor();
    expect(await rx.textContent()).toContain('2.5 mg once daily');

    // A new enclave result reaches the open page over the live stream.
    await stack.csp.ingestHrvResult('P-001', t0 + 36 * 300_000, {
      mean_nn_ms: 937.5,
      sdnn_ms: 77.7,
      rmssd_ms: 51.2,
      pnn50_pct: 18.4,
      mean_hr_bpm: 64,
      lf_ms2: 1410,
      hf_ms2: 402,
      lf_hf: 3.51,
    });
    await expect
      .poll(() => measures.locator('tr', { hasText: 'SDNN' }).first().textContent(), { timeout: 10_000 })
      .toContain('77.7');

    // The encrypted aggregate across the doctor's patients.
    await page.getByRole('button', { name: 'Mean across my patients' }).click();
    await page.locator('#agg-title').locator('xpath=..').locator('tbody tr').first().waitFor();

    await page.getByRole('button', { name: /P-001/ }).scrollIntoViewIfNeeded();
    await page.evaluate(() => window.scrollTo(0, 0));
    await mkdir(join(repo, 'docs/img'), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    expect(errors).toEqual([]);
  });

  it('a patient sees only their own records and no clinician forms', async () => {
    await loginAs('patient-p-001');
    await page.getByRole('heading', { name: 'My records and prescriptions' }).waitFor();
    await page.getByTestId('records').locator('tr', { hasText: 'Bisoprolol' }).waitFor();
    expect(await page.getByRole('button', { name: 'Prescribe' }).count()).toBe(0);
    expect(await page.getByRole('heading', { name: 'My patients' }).count()).toBe(0);
  });

  it('a health worker records vitals and gets a clear error for an oversized RR file', async () => {
    await loginAs('worker1');
    await page.getByRole('button', { name: /P-001/ }).click();
    expect(await page.getByRole('button', { name: 'Prescribe' }).count()).toBe(0);
    await page.getByLabel('Heart rate (bpm)').fill('72');
    await page.getByLabel('Systolic (mmHg)').fill('128');
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByTestId('records').locator('tr', { hasText: 'Systolic 128 mmHg' }).waitFor();
    await page.getByLabel('RR-interval file').check();
    await page.locator('input[type=file]').setInputFiles({
      name: 'week.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('812\n'.repeat(600_000)),
    });
    await page.getByRole('button', { name: 'Upload' }).click();
    await expect
      .poll(() => page.locator('form[aria-labelledby=upload-title] [role=alert]').textContent())
      .toMatch(/at most 2048 KiB per record/);
  });

  it('an admin lists users and changes a doctor’s assignments', async () => {
    await loginAs('admin');
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    const field = page.getByLabel('Patients assigned to doctor2');
    expect(await field.inputValue()).toBe('P-002');
    await field.fill('P-002, P-003');
    const saved = page.waitForResponse(
      (r) => r.url().endsWith('/assignments') && r.request().method() === 'PUT',
    );
    await page.locator('tr', { hasText: 'doctor2' }).getByRole('button', { name: 'Save' }).click();
    expect((await saved).status()).toBe(200);
    await loginAs('doctor2');
    await page.getByRole('heading', { name: 'My patients' }).waitFor();
    expect(await page.locator('.patient-list button .small').allTextContents()).toEqual(['P-002', 'P-003']);
  });
});
