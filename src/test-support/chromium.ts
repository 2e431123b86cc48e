/** Debian's Chromium for the browser tests (playwright-core drives it; `npx playwright install` cannot download here). */
import { existsSync } from 'node:fs';
import type { BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** True when the browser is installed; tests skip with a printed reason otherwise. */
export const haveChromium = existsSync(CHROMIUM);

/** A headless Chromium with its own profile (so cookies persist across reloads), 1280×1000, without background traffic. */
export async function launchDashboardBrowser(profileDir: string): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 1000 },
  });
}
