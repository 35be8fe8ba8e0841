// SPDX-License-Identifier: Apache-2.0
/**
 * The web UI in a real browser: headless Chromium, driven over the DevTools
 * protocol (puppeteer-core), against a real controller serving the built UI
 * with an embedded store behind its SQL API and two simulated agents. A
 * user signs in with a token, sees the hosts, submits a job form with a bad
 * field and reads the API's own `field: reason`, and runs SELECT 1 in the
 * SQL console; the page's Content-Security-Policy refuses nothing it needs.
 *
 * Skipped, saying why, where Chromium is not installed (scripts/setup
 * installs Debian's `chromium`).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { RunningController } from '@fleettrace/controller' with { 'resolution-mode': 'import' };
import type { RunningAgent } from '@fleettrace/agent';
import type { Browser, Page } from 'puppeteer-core' with { 'resolution-mode': 'import' };
import { migrate } from '@fleettrace/ingest';
import { cannedQueries, EmbeddedStore, QueryService } from '@fleettrace/store';
import {
  adminApi,
  apiFor,
  apiToken,
  cleanup,
  startSimulated,
  startTestController,
  tempDir,
  waitFor,
  type Api,
} from '../control-plane/harness';
import { assertBuilt, WEB_DIST } from './web-ui-dir';

const CHROMIUM = process.env.FLEETTRACE_CHROMIUM ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set FLEETTRACE_CHROMIUM)`;

/** A bad job: every field fine but the duration, which the API must name. */
const BAD_DURATION = 'forever';

describe('web UI in Chromium', { skip, timeout: 120_000 }, () => {
  let dir: string;
  let store: EmbeddedStore;
  let c: RunningController;
  let admin: Api;
  let agents: RunningAgent;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  before(async () => {
    assertBuilt();
    dir = tempDir('ui-browser');
    store = new EmbeddedStore({ dataDir: dir });
    await migrate(store);
    c = await startTestController({
      uiDir: WEB_DIST,
      query: { backend: new QueryService(store), canned: cannedQueries },
    });
    admin = adminApi(c);
    agents = await startSimulated(c, admin, 2, { hostname: 'uitest' });
    await waitFor('two connected agents', async () => {
      const r = await admin.get<{ agents: Array<{ state: string }> }>('/api/v1/agents');
      return r.body.agents.filter((a) => a.state === 'connected').length === 2;
    });
    const puppeteer = (await import('puppeteer-core')).default;
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      // As root (CI, this machine) Chromium's sandbox cannot start.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    });
    page = await browser.newPage();
    // CSP refusals and script errors are console errors: none may happen.
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(String(e)));
  });
  after(async () => {
    await browser?.close();
    await agents?.close();
    await c?.close();
    await store?.close();
    if (dir) cleanup(dir);
  });

  const text = (selector: string) =>
    page
      .$eval(selector, (el) => (el as unknown as { innerText: string }).innerText)
      .catch(() => '');
  const waitForText = (selector: string, pattern: RegExp) =>
    waitFor(
      `${selector} to show ${pattern}`,
      async () => pattern.test(await text(selector)),
      15_000,
      100,
    );

  test('sign in with a token, then the hosts', async () => {
    const res = await page.goto(`${c.url}/`, { waitUntil: 'load' });
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()['content-security-policy'] ?? '', /^default-src 'self'/);
    await page.waitForSelector('input[name=token]');
    await page.type('input[name=token]', 'ftapi.000000000000.' + 'x'.repeat(43));
    await page.click('button[type=submit]');
    await waitForText('.sign-in .error', /unknown, revoked or expired token/);

    const operator = await apiToken(admin, 'operator');
    await page.$eval(
      'input[name=token]',
      (el) => ((el as unknown as { value: string }).value = ''),
    );
    await page.type('input[name=token]', operator);
    await page.click('button[type=submit]');
    await waitForText('[data-testid=hosts]', /uitest-1[\s\S]*uitest-2|uitest-2[\s\S]*uitest-1/);
    assert.match(await text('[data-testid=hosts]'), /connected/);
    assert.match(await text('header'), /test operator\s*operator/);
    const kept = await page.evaluate("sessionStorage.getItem('fleettrace.token')");
    assert.equal(kept, operator, 'the token is kept in sessionStorage');
  });

  test("a job form with a bad field shows the API's own message", async () => {
    await page.goto(`${c.url}/#/jobs`);
    await page.waitForSelector('[data-testid=job-form]');
    // An operator is not offered the collectors that need admin.
    assert.equal(await page.$('input[name="collector.proc"]'), null);
    await page.type('input[name="targets.hosts"]', 'uitest-*');
    await page.click('input[name="collector.syscalls"]');
    await page.$eval(
      'input[name=duration]',
      (el) => ((el as unknown as { value: string }).value = ''),
    );
    await page.type('input[name=duration]', BAD_DURATION);
    await page.click('[data-testid=job-form] button[type=submit]');
    await waitForText('[data-testid=job-error]', /^duration: /);
    // Word for word what the API answers for the same spec.
    const direct = await apiFor(c, c.firstAdminToken).post<{ error: string }>('/api/v1/jobs', {
      targets: { hosts: ['uitest-*'] },
      collectors: [{ name: 'syscalls' }],
      duration: BAD_DURATION,
      limits: { overhead_budget: 0.01 },
    });
    assert.equal(direct.status, 400);
    assert.equal(await text('[data-testid=job-error]'), direct.body.error);
    assert.ok(await page.$('label.invalid input[name=duration]'), 'the field is marked');
  });

  test('the SQL console runs SELECT 1 and lists the tables', async () => {
    await page.goto(`${c.url}/#/sql`);
    await page.waitForSelector('textarea[name=sql]');
    await waitForText('[data-testid=schema]', /cpu_profile/);
    await page.$eval(
      'textarea[name=sql]',
      (el) => ((el as unknown as { value: string }).value = ''),
    );
    await page.type('textarea[name=sql]', 'SELECT 1');
    await page.click('[data-testid=run-sql]');
    await waitForText('[data-testid=result]', /^1\s*\n\s*1$|1\s+1/);
    assert.equal(await text('[data-testid=result] tbody td'), '1');
    assert.match(await text('[data-testid=result-count]'), /^1 row\b/);
  });

  test('nothing was refused by the Content-Security-Policy, and no script failed', () => {
    assert.deepEqual(problems, []);
  });
});
