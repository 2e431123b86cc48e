/**
 * A deployment as the README's "Running the components separately" describes it: `hrvault serve`, `hrvault cloud`
 * (with its enclave child), `hrvault gateway` and `hrvault sensor` as separate processes, set up only through
 * their command lines and the API — the operator's steps, in order. The doctor must then read the patient's HRV
 * (numeric SDNN and RMSSD computed in the enclave) through the API, and see it on the dashboard `hrvault serve`
 * serves, in Chromium: the latest SDNN and RMSSD equal to a window the enclave computed, and the tachogram,
 * Poincaré plot, histogram and spectrum drawn. Without /usr/bin/chromium the browser part is skipped with a
 * printed reason; the API part still runs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRecordData, type HrvRecordData } from '../contracts/index.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../gateway/index.js';
import { devicePassword } from '../sensor/index.js';
import { CHROMIUM, haveChromium, launchDashboardBrowser } from '../test-support/chromium.js';
import { createApprovedUser, fetchCall, loginAs } from '../api/test-support/grants.js';
import { UI_TIMEOUT, ensureDashboardBuilt, expectDrawn, formatMeasure, numeric, openPatient, signIn } from '../test-support/dashboard.js';

const log = (msg: string): void => console.log(`deployment.int.test: ${msg}`);

const CLI = ['--import', 'tsx', 'src/cli.ts'];
const children: ChildProcess[] = [];

/** Starts `hrvault <args>` and resolves with the first output line matching `ready` (rejects on exit or deadline). */
function start(args: string[], ready: RegExp, env: Record<string, string> = {}, timeoutMs = 180_000): Promise<{ child: ChildProcess; match: RegExpMatchArray; output: () => string }> {
  const child = spawn(process.execPath, [...CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hrvault ${args[0]} not ready in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = out.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hrvault ${args[0]} exited (${code}) before it was ready:\n${out}`));
    });
  });
}

/** Runs `hrvault <args>` to its end and returns stdout (throws with stderr on a non-zero exit). */
function run(args: string[]): string {
  const r = spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`hrvault ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

async function api(base: string, method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

/** The records of a GET /records answer (`records`, or `items` as the paged form names them). */
function recordsOf(json: unknown): { data: unknown }[] {
  const page = json as { records?: { data: unknown }[]; items?: { data: unknown }[] };
  return page.records ?? page.items ?? [];
}

let broker: EmbeddedBroker | undefined;
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await broker?.close();
});

describe('a deployment of separate components', () => {
  it('serve + cloud + gateway + sensor: the doctor reads the enclave\'s SDNN and RMSSD for a patient', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hrvault-deploy-'));
    const secret = 'device-secret-for-this-test';
    const prefix = `hrvault/v1/deploy${process.pid}`;
    broker = await startEmbeddedBroker({
      credentials: (u) => (u === 'gw1' ? 'gateway-password' : u.startsWith('dev-') ? devicePassword(secret, u) : undefined),
      gatewayUsernames: ['gw1'],
      topicPrefix: prefix,
    });
    // 1. gateway keys; 2. what the gateway pins of the enclave.
    const gwKeys = run(['gateway', '--data-dir', join(dir, 'gw'), '--id', 'gw1', '--print-keys']);
    writeFileSync(join(dir, 'gw1.json'), gwKeys);
    const enclave = JSON.parse(run(['enclave', '--enclave-dir', join(dir, 'enclave')])) as { measurement: string; platform_public_key_file: string };
    // `hrvault serve` serves the dashboard when dist/web is built (as after `npm ci`, whose prepare step builds it).
    if (haveChromium) ensureDashboardBuilt(log);
    else log(`the dashboard part is skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`);
    // 3. the access services, with the two bootstrap admins the two-person rule on grants needs.
    const serve = await start(['serve', '--data-dir', join(dir, 'access'), '--port', '0', '--paillier-bits', '1024'], /API at (http:\/\/[0-9.:]+)\/api\/v1/, {
      HRVAULT_ACCESS_ADMIN_PASSWORD: 'admin password for the test',
      HRVAULT_ACCESS_SECOND_ADMIN_PASSWORD: 'second admin password for the test',
    });
    const base = serve.match[1]!;
    const call = fetchCall(base);
    const admin = { access_token: await loginAs(call, 'admin', 'admin password for the test') };
    const admins = { requester: admin.access_token, approver: await loginAs(call, 'admin2', 'second admin password for the test') };
    const patients = ['P0001', 'P0002'];
    // Each account: one admin requests, the other approves, the user enrols with both code parts and their own password.
    for (const p of patients) await createApprovedUser(call, admins, { username: p.toLowerCase(), role: 'patient', patient_id: p });
    const drWho = await createApprovedUser(call, admins, { username: 'dr.who', role: 'doctor', display_name: 'Dr Who', patients });
    // The operator registers the gateway as a device with the signing key it printed.
    const signing = (JSON.parse(gwKeys) as { signing_public_key: string }).signing_public_key;
    expect((await api(base, 'POST', '/devices', admin.access_token, { id: 'gw1', signing_public_key: signing, patients })).status).toBe(201);
    // 4. the cloud host with its enclave; 5. the gateway; 6. the sensors.
    const cloud = await start(['cloud', '--gateway-keys', join(dir, 'gw1.json'), '--data-dir', join(dir, 'cloud'), '--enclave-dir', join(dir, 'enclave'), '--port', '0', '--batch-interval', '1'], /"port":(\d+),"host_key":"(SHA256:[^"]+)"/);
    await start(
      ['gateway', '--data-dir', join(dir, 'gw'), '--id', 'gw1', '--mqtt-url', broker.url, '--topic-prefix', prefix, '--mqtt-username', 'gw1', '--mqtt-password', 'gateway-password',
        '--patients', '2', '--batch-interval', '1', '--sftp-port', cloud.match[1]!, '--sftp-host-fingerprint', cloud.match[2]!,
        '--platform-public-key-file', enclave.platform_public_key_file, '--allowed-measurement', enclave.measurement, '--allow-software-quotes', '--csp-url', base],
      /gateway running/,
    );
    await start(['sensor', '--mqtt-url', broker.url, '--topic-prefix', prefix, '--patients', '2', '--device-secret', secret, '--speed', '10'], /sensors publishing/);
    // The doctor logs in and waits until the patient's window is long enough for every time-domain measure.
    const doctor = { access_token: await loginAs(call, 'dr.who', drWho.password) };
    const deadline = Date.now() + 150_000;
    let latest: HrvRecordData | undefined;
    while (Date.now() < deadline) {
      const r = await api(base, 'GET', '/patients/P0001/records?type=hrv&limit=10000', doctor.access_token);
      expect(r.status).toBe(200);
      const items = recordsOf(r.json);
      const measured = items.map((i) => parseRecordData('hrv', i.data)).filter((d) => d.measures?.rmssd_ms != null && d.n >= 30);
      if (measured.length > 0) {
        latest = measured.at(-1);
        break;
      }
      await new Promise((res) => setTimeout(res, 500));
    }
    expect(latest, 'no HRV record with measures reached the doctor').toBeDefined();
    expect(latest!.source.kind).toBe('pipeline');
    expect(latest!.measures!.sdnn_ms).toBeGreaterThan(0);
    expect(latest!.measures!.rmssd_ms).toBeGreaterThan(0);
    expect(latest!.measures!.mean_hr_bpm).toBeGreaterThan(40);
    const beats = await api(base, 'GET', '/patients/P0001/records?type=rr_batch&limit=10000', doctor.access_token);
    expect(recordsOf(beats.json).length).toBeGreaterThan(0);
    if (!haveChromium) return;

    // The same doctor on the dashboard that `hrvault serve` serves.
    const profile = mkdtempSync(join(tmpdir(), 'hrvault-deploy-browser-'));
    const browser = await launchDashboardBrowser(profile);
    try {
      const page = browser.pages()[0] ?? (await browser.newPage());
      page.setDefaultTimeout(UI_TIMEOUT);
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${base}/`);
      await signIn(page, 'dr.who', drWho.password);
      await openPatient(page, 'P0001');
      for (const id of ['latest-sdnn_ms', 'latest-rmssd_ms'])
        await expect.poll(() => page.getByTestId(id).textContent(), { timeout: UI_TIMEOUT, message: id }).toSatisfy(numeric);
      // The sensors still run, so the newest window moves on: what the page shows must be one the enclave computed.
      // Both numbers are read in one turn of the page's event loop: two separate reads could straddle a live update and pair
      // the SDNN of one window with the RMSSD of the next (a CI run saw exactly that).
      const shown = await page.evaluate(() => ({
        sdnn: document.querySelector('[data-testid=latest-sdnn_ms]')?.textContent ?? null,
        rmssd: document.querySelector('[data-testid=latest-rmssd_ms]')?.textContent ?? null,
      }));
      const after = await api(base, 'GET', '/patients/P0001/records?type=hrv&limit=10000', doctor.access_token);
      const windows = recordsOf(after.json);
      const computed = windows.map((i) => parseRecordData('hrv', i.data).measures).filter((m) => m != null);
      log(`dashboard: P0001 SDNN ${shown.sdnn} ms, RMSSD ${shown.rmssd} ms (${computed.length} windows from the enclave)`);
      expect(
        computed.some((m) => formatMeasure(m.sdnn_ms) === shown.sdnn && formatMeasure(m.rmssd_ms) === shown.rmssd),
        `the page's SDNN ${shown.sdnn} / RMSSD ${shown.rmssd} is none of the enclave's windows`,
      ).toBe(true);
      for (const id of ['tachogram', 'poincare', 'rr-histogram', 'spectrum']) await expectDrawn(page, id, log);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 600_000);
});
