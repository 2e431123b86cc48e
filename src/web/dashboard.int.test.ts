/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core against the real access
 * stack serving a fresh build. Skips with a printed reason when /usr/bin/chromium is missing.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { startAccessStack, type AccessStack } from '../api/index.js';
import { createDemoUsers, type DemoCredential } from '../csp/index.js';
import { pipelineResults } from '../test-support/pipeline-fixtures.js';
import { recordsFromResult, type HrvResult } from '../contracts/index.js';
import { signDeviceToken } from '../csp/index.js';
import { generateSigningKeyPair } from '../crypto/index.js';
import { CHROMIUM, haveChromium, launchDashboardBrowser } from '../test-support/chromium.js';

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
  // Six minutes of MIT-BIH record 100 through the enclave's real analysis; the last result arrives live.
  const results = pipelineResults({ source: '100', gateway: 'gw-1', durationS: 360, startMs: Date.now() - 400_000 });
  const hrv = results.map((r) => recordsFromResult('gw-1', r)[0]);
  const gw = generateSigningKeyPair();
  /** Sends results as the gateway does: a device-signed ingest request, both records of each result stored together. */
  const ingest = async (rs: HrvResult[]) => {
    const device = await stack.csp.authenticateDevice(await signDeviceToken(gw, 'gw-1'));
    await stack.csp.ingestResults(device, { gateway: 'gw-1', items: rs.map((result) => ({ patient: 'P-001', result })) });
  };

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
    // The demo's users include a second admin ("admin2"), for the two-person rule: an admin's grant of patients
    // waits for another admin's approval.
    creds = await createDemoUsers(stack.csp, ['P-001', 'P-002', 'P-003']);
    const admin = await stack.csp.authenticate((await stack.csp.login('admin', creds.find((c) => c.username === 'admin')!.password)).access_token);
    await stack.csp.registerDevice(admin, { id: 'gw-1', signing_public_key: Buffer.from(gw.publicKey).toString('hex'), patients: ['P-001'] });
    await ingest(results.slice(0, -1));
    ctx = await launchDashboardBrowser(join(tmp, 'profile'));
    page = ctx.pages()[0] ?? (await ctx.newPage());
    page.setDefaultTimeout(10_000);
    // Building the bundle and sealing the seeded records take a while on a busy machine.
  }, 180_000);

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
    const list = page.getByTestId('patient-list');
    await list.locator('tbody tr', { hasText: 'P-003' }).waitFor();
    expect(await list.locator('tbody tr').count()).toBe(2);

    await list.locator('tbody tr', { hasText: 'P-001' }).click();
    await page.locator('.live.live').waitFor();
    // The latest window's measures come from data.measures of the newest stored hrv record.
    const shown = hrv.at(-2)!.data.measures!;
    await expect.poll(() => page.getByTestId('latest-sdnn_ms').textContent()).toBe(String(Number(shown.sdnn_ms!.toPrecision(3))));
    expect(Number(await page.getByTestId('measure-rmssd_ms').textContent())).toBeGreaterThan(0);
    expect(await page.getByText('No HRV results').count()).toBe(0);
    await page.getByTestId('trend-hr').locator('canvas').waitFor();
    for (const id of ['tachogram', 'poincare', 'rr-histogram', 'spectrum']) await page.getByTestId(id).locator('canvas').waitFor();
    // The window's measures are computed in the browser from the stored beats and equal the enclave's.
    await expect.poll(() => page.getByTestId('measure-sdnn_ms').textContent()).toBe(String(Number(shown.sdnn_ms!.toPrecision(3))));

    await page.getByLabel('Medication').fill('Bisoprolol');
    await page.getByLabel('Dose').fill('2.5 mg once daily');
    await page.getByLabel('Instructions').fill('Take in the morning; review in 4 weeks.');
    await page.getByRole('button', { name: 'Prescribe' }).click();
    await page.getByText('Prescription saved.').waitFor();
    const rx = page.getByTestId('records').locator('tr', { hasText: 'Bisoprolol' });
    await rx.waitFor();
    expect(await rx.textContent()).toContain('2.5 mg once daily');

    // The held-back enclave result reaches the open page over the live stream.
    const sent = Date.now();
    await ingest(results.slice(-1));
    const next = hrv.at(-1)!.data.measures!;
    await page.waitForFunction(
      (v) => document.querySelector('[data-testid=latest-sdnn_ms]')?.textContent === v,
      String(Number(next.sdnn_ms!.toPrecision(3))),
      { polling: 'raf', timeout: 10_000 },
    );
    const latency = Date.now() - sent;
    console.log(`dashboard.int.test: a new result was on the page ${latency} ms after the gateway sent it`);
    expect(latency).toBeLessThan(2000);

    await page.evaluate(() => window.scrollTo(0, 0));
    await mkdir(join(repo, 'docs/img'), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });

    // A reload: the session comes back from the refresh cookie (or, on a server without it, after logging in
    // again) on the same patient, and the note being typed is still there. No token in storage or the URL.
    await page.locator('textarea[name=note]').fill('Palpitations reported at 14:00, ');
    await page.reload();
    await page.getByLabel('Username').or(page.getByRole('button', { name: 'Log out' })).first().waitFor();
    if ((await page.getByRole('button', { name: 'Log out' }).count()) === 0) {
      await page.getByLabel('Username').fill('doctor1');
      await page.getByLabel('Password').fill(pw);
      await page.getByRole('button', { name: 'Sign in' }).click();
    }
    await expect.poll(() => page.locator('textarea[name=note]').inputValue()).toBe('Palpitations reported at 14:00, ');
    const stored = await page.evaluate(() => ({
      local: Object.keys(localStorage),
      session: Object.keys(sessionStorage),
      url: location.href,
    }));
    expect(stored.local).toEqual([]);
    expect(stored.session.every((k) => k.startsWith('hrvault.draft.'))).toBe(true);
    expect(stored.url).not.toMatch(/token/i);
    expect(errors).toEqual([]);
  });

  it('a patient sees only their own records and no clinician forms', async () => {
    await loginAs('patient-p-001');
    await page.getByRole('heading', { name: 'My records and prescriptions' }).waitFor();
    await page.getByTestId('prescriptions').getByText(/Bisoprolol/).waitFor();
    expect(await page.getByTestId('plain-summary').textContent()).toMatch(/beats per minute/);
    expect(await page.getByRole('button', { name: 'Prescribe' }).count()).toBe(0);
    expect(await page.getByRole('heading', { name: 'My patients' }).count()).toBe(0);
  });

  it('a health worker records vitals and gets a clear error for an oversized RR file', async () => {
    await loginAs('worker1');
    await page.getByTestId('patient-list').locator('tbody tr', { hasText: 'P-001' }).click();
    expect(await page.getByRole('button', { name: 'Prescribe' }).count()).toBe(0);
    await page.getByLabel('Heart rate (bpm)').fill('72');
    await page.getByLabel('Systolic (mmHg)').fill('128');
    await page.getByLabel('Diastolic (mmHg)').fill('130');
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByText('diastolic pressure must be below systolic').waitFor();
    await page.getByLabel('Diastolic (mmHg)').fill('');
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByTestId('records').locator('tr', { hasText: 'Systolic 128 mmHg' }).waitFor();
    await page.getByLabel('RR-interval file').check();
    // A file the server's parser refuses: its FILE:LINE: reason is shown as the server returned it.
    await page.locator('input[type=file]').setInputFiles({
      name: 'data.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(`time_ms,rr_ms\n${Array.from({ length: 10 }, (_, i) => `${(i + 1) * 800},800`).join('\n')}\n8800,abc\n`),
    });
    const refused = page.waitForResponse((r) => r.url().endsWith('/records') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Upload' }).click();
    const answer = await refused;
    if (answer.status() === 201) {
      console.log('dashboard.int.test: this server stores uploads without parsing them yet; parser-error check skipped');
    } else {
      expect(answer.status()).toBe(422);
      const detail = ((await answer.json()) as { detail: string }).detail;
      expect(detail).toMatch(/^data\.csv:\d+: /);
      await expect.poll(() => page.getByTestId('upload-error').textContent()).toBe(detail);
    }
    await page.locator('input[type=file]').setInputFiles({
      name: 'week.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('812\n'.repeat(600_000)),
    });
    await page.getByRole('button', { name: 'Upload' }).click();
    await expect
      .poll(() => page.locator('form[aria-labelledby=upload-title] [role=alert]').first().textContent())
      .toMatch(/at most 2048 KiB per record/);
  });

  it('an admin lists users and asks to change a doctor’s assignments, picked from existing patients and confirmed; a second admin approves on the page', async () => {
    await loginAs('admin');
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    const row = page.locator('tr', { hasText: 'doctor2' });
    expect(await row.locator('.chip').allTextContents()).toEqual(['P-002×']);
    await row.getByLabel('Find a patient for Patients assigned to doctor2').fill('P-003');
    await row.getByRole('checkbox').check();
    let confirm = '';
    page.once('dialog', (d) => {
      confirm = d.message();
      void d.accept();
    });
    const saved = page.waitForResponse((r) => r.url().endsWith('/assignments') && r.request().method() === 'PUT');
    await row.getByRole('button', { name: 'Save' }).click();
    // 202: the grant waits for a second admin.
    expect((await saved).status()).toBe(202);
    expect(confirm).toContain('Add: P-003');
    await page.getByRole('button', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await loginAs('doctor2');
    await page.getByRole('heading', { name: 'My patients' }).waitFor();
    await page.getByTestId('patient-list').locator('tbody tr', { hasText: 'P-002' }).waitFor();
    expect(await page.getByTestId('patient-list').locator('tbody tr', { hasText: 'P-003' }).count(), 'no access before the approval').toBe(0);
    await loginAs('admin2');
    const pending = page.locator('section[aria-labelledby=grants-title] li', { hasText: 'doctor2' });
    await expect.poll(() => pending.textContent()).toContain('P-003');
    await pending.getByRole('button', { name: 'Approve' }).click();
    await page.getByText('Approved: doctor2 now has').waitFor();
    await loginAs('doctor2');
    await page.getByRole('heading', { name: 'My patients' }).waitFor();
    await page.getByTestId('patient-list').locator('tbody tr', { hasText: 'P-003' }).waitFor();
    expect(await page.getByTestId('patient-list').locator('tbody tr').count()).toBe(2);
  });
});
