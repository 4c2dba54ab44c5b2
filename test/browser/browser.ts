/**
 * Debian's chromium, driven by playwright-core (no browser download): headless, no sandbox (CI runs as
 * root), nothing that phones home, and a fresh profile (user-data-dir) per browser, so each one is a
 * first visit: empty cache, no cookies, no stored credentials. A missing /usr/bin/chromium skips the
 * browser tests locally and fails them when CI=true (.ci/run installs it).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BrowserContext,
  type BrowserContextOptions,
  chromium,
  type Dialog,
  type Page,
} from 'playwright-core';
import { inCI } from '../helpers/services.js';

export const CHROMIUM = '/usr/bin/chromium';
export const skipChromium = !existsSync(CHROMIUM) && !inCI;

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface OpenBrowser {
  context: BrowserContext;
  page: Page;
  /** Every alert/confirm/prompt the page opened (dismissed at once): an XSS would land here. */
  dialogs: string[];
  /** Uncaught errors in the page. */
  errors: string[];
  close(): Promise<void>;
}

export async function openBrowser(options: BrowserContextOptions = {}): Promise<OpenBrowser> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'celeriac-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 860 },
    ...options,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('dialog', (d: Dialog) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return {
    context,
    page,
    dialogs,
    errors,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Bytes transferred (headers + bodies, as the network saw them) for everything `load()` makes the page
 * fetch until the network is idle, from the DevTools protocol's Network.loadingFinished events. The
 * Server-Sent Events stream never finishes loading, so it is not counted.
 */
export async function measureTransfer(
  page: Page,
  load: () => Promise<unknown>,
): Promise<{ bytes: number; requests: number }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  let bytes = 0;
  let requests = 0;
  cdp.on('Network.loadingFinished', (e: { encodedDataLength: number }) => {
    bytes += e.encodedDataLength;
    requests++;
  });
  await load();
  await page.waitForLoadState('networkidle').catch(() => undefined);
  await cdp.detach();
  return { bytes, requests };
}
