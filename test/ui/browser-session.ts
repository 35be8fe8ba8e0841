// SPDX-License-Identifier: Apache-2.0
/**
 * Debian's headless Chromium driven by playwright-core (which downloads no
 * browser of its own), with what the UI tests share: the page's script
 * errors and CSP refusals collected, text as a reader sees it, waiting for
 * text, and screenshots kept as test artifacts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { waitFor } from '../control-plane/harness';

export const CHROMIUM = process.env.FLEETTRACE_CHROMIUM ?? '/usr/bin/chromium';

/** false, or why the browser tests cannot run here (for `describe`'s skip). */
export const noChromium: false | string = existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set FLEETTRACE_CHROMIUM)`;

/**
 * Where screenshots go: $FLEETTRACE_UI_SCREENSHOTS, else test/dist/artifacts/ui
 * (this file runs from test/dist/ui).
 */
export const SCREENSHOTS = resolve(
  process.env.FLEETTRACE_UI_SCREENSHOTS ?? join(__dirname, '..', 'artifacts', 'ui'),
);

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface BrowserSession {
  browser: Browser;
  page: Page;
  /** Console errors (CSP refusals among them) and uncaught script errors, 4xx answers aside. */
  problems: string[];
  /** The element's text as a reader sees it (innerText; textContent for SVG), '' when absent. */
  text(selector: string): Promise<string>;
  waitForText(selector: string, pattern: RegExp, ms?: number): Promise<void>;
  /** A full-page PNG in SCREENSHOTS; checks it is a non-empty PNG and returns its path. */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export async function openBrowser(): Promise<BrowserSession> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    // As root (CI, this machine) Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  const page = await browser.newPage({
    viewport: { width: 1400, height: 900 },
    acceptDownloads: true,
  });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  const text = (selector: string) =>
    page
      .$eval(selector, (el) => {
        const e = el as unknown as { innerText?: string; textContent: string };
        return e.innerText ?? e.textContent;
      })
      .catch(() => '');
  return {
    browser,
    page,
    problems,
    text,
    async waitForText(selector, pattern, ms = 15_000) {
      await waitFor(
        `${selector} to show ${pattern}`,
        async () => pattern.test(await text(selector)),
        ms,
        100,
      );
    },
    async screenshot(name) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      const path = join(SCREENSHOTS, `${name.replace(/[^\w.-]+/g, '-').slice(0, 60)}.png`);
      await page.screenshot({ path, fullPage: true });
      assert.ok(statSync(path).size > PNG_SIGNATURE.length, `${path} is not empty`);
      assert.deepEqual(readFileSync(path).subarray(0, 8), PNG_SIGNATURE, `${path} is a PNG`);
      return path;
    },
    close: () => browser.close(),
  };
}
