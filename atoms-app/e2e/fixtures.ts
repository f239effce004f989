/**
 * Test fixtures: one real demo server per worker, a fresh canvas id per test, and `open(name)`,
 * a page of that canvas in its own browser context (its own person), ready once the badge is green.
 * Without the system Chromium the tests are skipped, except under CI=true where that fails.
 */
import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, expect, type Page, test as base } from '@playwright/test';
import { CHROMIUM } from '../playwright.config.js';
import { type AtomsEnv, AtomsServer } from './server.js';

export { expect };

export interface Fixtures {
  canvasId: string;
  /** `role: 'viewer'` opens the page as a read-only viewer (`?role=viewer`). */
  open: (name: string, role?: 'viewer') => Promise<Page>;
}

function requireChromium(): string | null {
  if (existsSync(CHROMIUM)) return null;
  const why = `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
  if (process.env.CI) throw new Error(why);
  return why;
}

async function openPage(browser: Browser, server: AtomsServer, canvasId: string, name: string, role?: 'viewer'): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}/?canvas=${encodeURIComponent(canvasId)}&name=${encodeURIComponent(name)}${role ? `&role=${role}` : ''}`);
  await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'synced');
  return { context, page };
}

export interface WorkerFixtures {
  /** Settings of the worker's server (`test.use({ serverEnv: { ATOMS_TICKET_TTL_S: '3' } })` at a file's top: a worker of its own). */
  serverEnv: AtomsEnv;
  server: AtomsServer;
  /** The system Chromium, or null when it is missing outside CI (the tests then skip). */
  canvasBrowser: Browser | null;
}

export const test = base.extend<Fixtures, WorkerFixtures>({
  canvasBrowser: [
    async ({ playwright, launchOptions }, use) => {
      if (requireChromium() !== null) return use(null);
      const browser = await playwright.chromium.launch(launchOptions);
      await use(browser);
      await browser.close();
    },
    { scope: 'worker' },
  ],
  serverEnv: [{}, { scope: 'worker', option: true }],
  server: [
    async ({ serverEnv }, use) => {
      const server = new AtomsServer();
      try {
        await server.start(serverEnv);
        await use(server);
      } finally {
        await server.dispose();
      }
    },
    { scope: 'worker' },
  ],
  canvasId: [
    async ({}, use, testInfo) => {
      const slug = testInfo.title.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 40).replace(/-+$/, '');
      await use(`e2e-${slug}-${Date.now().toString(36)}`);
    },
    { option: true },
  ],
  open: async ({ canvasBrowser: browser, server, canvasId }, use, testInfo) => {
    if (browser === null) return testInfo.skip(true, requireChromium() ?? '');
    const contexts: BrowserContext[] = [];
    await use(async (name, role) => {
      const { context, page } = await openPage(browser, server, canvasId, name, role);
      contexts.push(context);
      return page;
    });
    for (const c of contexts) await c.close();
    if (testInfo.status !== testInfo.expectedStatus) console.log(`--- server log (tail)\n${server.log()}`);
  },
});
