// SPDX-License-Identifier: Apache-2.0
/**
 * The web UI in a real browser: Debian's headless Chromium, driven by
 * playwright-core (browser-session.ts), against a real controller serving the built UI
 * with an embedded store behind its SQL API and two simulated agents. A
 * user signs in with a token, sees the hosts, submits a job form with a bad
 * field and reads the API's own `field: reason`, and runs SELECT 1 in the
 * SQL console; the page's Content-Security-Policy refuses nothing it needs.
 *
 * Skipped, saying why, where Chromium is not installed (scripts/setup
 * installs Debian's `chromium`).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, afterEach, before, describe, test } from 'node:test';
import type { RunningController } from '@fleettrace/controller' with { 'resolution-mode': 'import' };
import type { RunningAgent } from '@fleettrace/agent';
import type { Page } from 'playwright-core';
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
import { noChromium, openBrowser, type BrowserSession } from './browser-session';
import { assertBuilt, WEB_DIST } from './web-ui-dir';

/** A bad job: every field fine but the duration, which the API must name. */
const BAD_DURATION = 'forever';

const lines = (rows: object[]) => Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n'));

/**
 * A minute ago on web-1: alice's burner spent 8 s of CPU in burn() under
 * main() and 2 s in the kernel's clear_page under it; php-fpm was OOM-killed,
 * and root's bash sent SIGKILL to www-data's php-fpm 20 s earlier; the host's
 * run queue held 0.5 s of waits around then.
 * Half an hour ago on web-2, two users ran the same app differently: uid 2001
 * (the differential's target) 900 samples in grow() and 100 in shrink(), uid
 * 2002 (its baseline) the other way round.
 */
async function fill(store: EmbeddedStore): Promise<void> {
  const nowS = Math.floor(Date.now() / 1000) - 60;
  const time = new Date(nowS * 1000).toISOString().slice(0, 19).replace('T', ' ');
  let row = 0;
  const head = (uid: number, user: string, comm: string) => ({
    ts_ns: String(BigInt(nowS) * 1_000_000_000n + BigInt(++row)),
    time,
    host: 'web-1',
    job_id: 'j1',
    run_id: 'r1',
    pid: 1000 + uid,
    uid,
    user,
    comm,
    weight: 1,
    batch_id: 7,
    row_idx: row,
  });
  await store.insert(
    'fleettrace.cpu_profile',
    lines([
      { ...head(1001, 'alice', 'burner'), samples: 800, cpu_ns: 8e9, stack_id: 'aaaa' },
      { ...head(1001, 'alice', 'burner'), samples: 200, cpu_ns: 2e9, stack_id: 'bbbb' },
      { ...head(0, 'root', 'daemon'), samples: 10, cpu_ns: 0.1e9, stack_id: 'cccc' },
    ]),
  );
  const stack = (id: string, kernel: string[], user: string[]) => ({
    stack_id: id,
    time,
    kernel_frames: kernel,
    user_frames: user,
    user_depth: user.length,
  });
  await store.insert(
    'fleettrace.stacks',
    lines([
      stack('aaaa', [], ['burn+0x1a (/usr/bin/burner)', 'main+0x10 (/usr/bin/burner)']),
      stack(
        'bbbb',
        ['clear_page+0x4 ([kernel])', 'do_page_fault+0x20 ([kernel])'],
        ['burn+0x30 (/usr/bin/burner)', 'main+0x10 (/usr/bin/burner)'],
      ),
      stack('cccc', [], ['epoll_loop+0x8 (/usr/sbin/daemon)']),
    ]),
  );
  await store.insert(
    'fleettrace.proc',
    lines([
      { ...head(33, 'www-data', 'php-fpm'), event: 'oom_kill', tid: 1033 },
      {
        ...head(0, 'root', 'bash'),
        time: new Date((nowS - 20) * 1000).toISOString().slice(0, 19).replace('T', ' '),
        event: 'signal',
        tid: 1000,
        signal: 9,
        signal_name: 'SIGKILL',
        target_pid: 1033,
        target_tid: 1033,
        target_uid: 33,
        target_user: 'www-data',
        target_comm: 'php-fpm',
      },
    ]),
  );
  const runq = (ago: number, count: number, totalNs: number) => ({
    ts_ns: String(BigInt(nowS - ago) * 1_000_000_000n),
    time: new Date((nowS - ago) * 1000).toISOString().slice(0, 19).replace('T', ' '),
    host: 'web-1',
    job_id: 'j1',
    run_id: 'r1',
    uid: 1001,
    user: 'alice',
    cgroup: '/user.slice',
    weight: 1,
    batch_id: 8,
    row_idx: ++row,
    count,
    total_ns: totalNs,
    max_ns: 50_000_000,
    hist: [],
  });
  await store.insert('fleettrace.runqlat', lines([runq(90, 40, 0.1e9), runq(0, 120, 0.4e9)]));

  const earlier = nowS - 1800;
  const app = (uid: number, n: number, stackId: string) => ({
    ...head(uid, `u${uid}`, 'app'),
    ts_ns: String(BigInt(earlier) * 1_000_000_000n + BigInt(++row)),
    time: new Date(earlier * 1000).toISOString().slice(0, 19).replace('T', ' '),
    host: 'web-2',
    samples: n,
    cpu_ns: n * 1e7,
    stack_id: stackId,
  });
  await store.insert(
    'fleettrace.cpu_profile',
    lines([
      app(2001, 900, 'dddd'),
      app(2001, 100, 'eeee'),
      app(2002, 100, 'dddd'),
      app(2002, 900, 'eeee'),
    ]),
  );
  await store.insert(
    'fleettrace.stacks',
    lines([
      stack('dddd', [], ['grow+0x8 (/usr/bin/app)', 'main+0x4 (/usr/bin/app)']),
      stack('eeee', [], ['shrink+0x8 (/usr/bin/app)', 'main+0x4 (/usr/bin/app)']),
    ]),
  );
}

describe('web UI in Chromium', { skip: noChromium, timeout: 120_000 }, () => {
  let dir: string;
  let store: EmbeddedStore;
  let c: RunningController;
  let admin: Api;
  let agents: RunningAgent;
  let session: BrowserSession;
  let page: Page;

  before(async () => {
    assertBuilt();
    dir = tempDir('ui-browser');
    store = new EmbeddedStore({ dataDir: dir });
    await migrate(store);
    await fill(store);
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
    session = await openBrowser();
    page = session.page;
  });
  // A screenshot of the page after each test, kept with the test artifacts (browser-session.ts).
  afterEach(async (t) => {
    if (page) await session.screenshot(`simulated-${t.name}`);
  });
  after(async () => {
    await session?.close();
    await agents?.close();
    await c?.close();
    await store?.close();
    if (dir) cleanup(dir);
  });

  const text = (selector: string) => session.text(selector);
  const waitForText = (selector: string, pattern: RegExp) => session.waitForText(selector, pattern);
  test('sign in with a token, then the hosts', async () => {
    const res = await page.goto(`${c.url}/`, { waitUntil: 'load' });
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()['content-security-policy'] ?? '', /^default-src 'self'/);
    await page.waitForSelector('input[name=token]');
    await page.fill('input[name=token]', 'ftapi.000000000000.' + 'x'.repeat(43));
    await page.click('button[type=submit]');
    await waitForText('.sign-in .error', /unknown, revoked or expired token/);

    const operator = await apiToken(admin, 'operator');
    await page.fill('input[name=token]', operator);
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
    await page.fill('input[name="targets.hosts"]', 'uitest-*');
    await page.click('input[name="collector.syscalls"]');
    await page.fill('input[name=duration]', BAD_DURATION);
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

    // Corrected, it starts: each host's run shows up in the job's panel, and it can be cancelled.
    await page.fill('input[name=duration]', '5m');
    await page.click('[data-testid=job-form] button[type=submit]');
    await waitForText('[data-testid=job-detail]', /uitest-1\s+running[\s\S]*uitest-2\s+running/);
    assert.equal(await page.$('[data-testid=job-error]'), null, 'the error is gone');
    await page.click('[data-testid=job-detail] button.danger');
    await waitForText('[data-testid=job-detail] h3', /cancelled/);
    await waitForText('[data-testid=jobs]', /cancelled\s+syscalls\s+hosts uitest-\*/);
  });

  test('the SQL console runs SELECT 1 and lists the tables', async () => {
    await page.goto(`${c.url}/#/sql`);
    await page.waitForSelector('textarea[name=sql]');
    await waitForText('[data-testid=schema]', /cpu_profile/);
    await page.fill('textarea[name=sql]', 'SELECT 1');
    await page.click('[data-testid=run-sql]');
    await waitForText('[data-testid=result]', /^1\s*\n\s*1$|1\s+1/);
    assert.equal(await text('[data-testid=result] tbody td'), '1');
    assert.match(await text('[data-testid=result-count]'), /^1 row\b/);

    // DESCRIBE through the same route, from the schema browser.
    const [cpuProfile] = await page.$$('xpath=//aside//button[contains(., "cpu_profile")]');
    assert.ok(cpuProfile, 'cpu_profile in the schema browser');
    await cpuProfile.click();
    await waitForText('[data-testid=schema] .columns', /stack_id\s+String/);

    // An answer with a time column and a numeric one is charted too.
    await page.fill(
      'textarea[name=sql]',
      'SELECT time, sum(cpu_ns) / 1e9 AS cpu_s FROM fleettrace.cpu_profile GROUP BY time ORDER BY time',
    );
    await page.click('[data-testid=run-sql]');
    // One point draws a polyline of no size: attached, not visible.
    await page.waitForSelector('[data-testid=time-chart] polyline', { state: 'attached' });
    assert.match(await text('[data-testid=time-chart] figcaption'), /cpu_s/);
    assert.match(await text('[data-testid=result]'), /10\.1/);
  });

  test('the crashes page shows the OOM kill on its timeline', async () => {
    await page.goto(`${c.url}/#/crashes`);
    await waitForText('svg.timeline', /OOM kills \(1\)/);
    assert.match(await text('table.grid'), /web-1[\s\S]*php-fpm \(pid 1033, www-data\) OOM-killed/);
  });

  test("selecting a crash shows its host's CPU and run queue around it, and who killed whom", async () => {
    await page.goto(`${c.url}/#/crashes`);
    await waitForText('svg.timeline', /OOM kills \(1\)/);
    await page.locator('table.grid tbody tr', { hasText: 'OOM-killed' }).click();
    await page.waitForSelector('[data-testid=crash-cpu] [data-testid=chart-marker]');
    assert.match(
      await text('[data-testid=crash-context] h3'),
      /oom_kill on web-1 at [\d-]+ [\d:]+ UTC/,
    );
    assert.match(
      await text('[data-testid=crash-context] .parties'),
      /victim\s+php-fpm \(pid 1033, www-data 33\)/,
    );
    // alice's 10 s, then root's 0.1 s, in the window of this host.
    const top = await page.$$eval('[data-testid=crash-top-users] tbody tr', (rows) =>
      rows.map((r) =>
        (r as unknown as { innerText: string }).innerText.replace(/\s+/g, ' ').trim(),
      ),
    );
    assert.deepEqual(top, ['alice 1001 10 99.0%', 'root 0 0.100 1.0%']);
    assert.match(await text('[data-testid=crash-cpu] figcaption'), /alice\s*root/);
    // The marker sits inside the plot, at the crash (the middle of the ±5 min window).
    const x = Number(
      await page.$eval('[data-testid=crash-cpu] [data-testid=chart-marker] line', (el) =>
        (el as unknown as { getAttribute(n: string): string }).getAttribute('x1'),
      ),
    );
    assert.ok(x > 400 && x < 560, `marker at x ${x}`);
    await page.waitForSelector('[data-testid=crash-runq] [data-testid=chart-marker]');
    assert.match(await text('[data-testid=crash-runq-count] svg'), /120/);

    // A kill: its sender and its target.
    await page.locator('table.grid tbody tr', { hasText: 'sent SIGKILL' }).click();
    await waitForText('[data-testid=crash-context] h3', /^signal on web-1/);
    assert.match(
      await text('[data-testid=crash-context] .parties'),
      /sender\s+bash \(pid 1000, root 0\)\s+target\s+php-fpm \(pid 1033, www-data 33\)\s+signal\s+SIGKILL/,
    );
    await page.waitForSelector('[data-testid=crash-cpu] [data-testid=chart-marker]');
  });

  test('profiles: a flame graph of the stored stacks; click zooms, search highlights', async () => {
    await page.goto(`${c.url}/#/profiles`);
    await page.waitForSelector('input[name=comm]');
    await page.fill('input[name=comm]', 'burner');
    await page.click('.filters button[type=submit]');
    await page.waitForSelector('[data-testid=flame-graph] svg');
    const frames = () =>
      page.$$eval('[data-testid=flame-graph] .frame text', (els) =>
        els.map((el) => (el as unknown as { textContent: string }).textContent),
      );
    await waitFor('the frames', async () => (await frames()).length >= 5, 10_000, 100);
    const names = await frames();
    // Root first: main, then burn at two offsets, clear_page's path under one of them.
    for (const f of ['all', 'main+0x10', 'burn+0x1a', 'burn+0x30', 'do_page_fault+0x20'])
      assert.ok(
        names.some((n) => n.startsWith(f)),
        `${f} in ${names.join(' | ')}`,
      );
    assert.equal(
      names.some((n) => n.startsWith('epoll_loop')),
      false,
      'filtered by comm',
    );
    assert.match(await text('section'), /2 stacks, 10\.0 s of CPU/);

    // The same selection from GET /api/v1/profiles, saved as a file: folded stacks, offsets merged.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('[data-testid=profile-downloads] button[name="download.folded"]'),
    ]);
    assert.match(download.suggestedFilename(), /^fleettrace-cpu-comm-burner-[\dT-]+\.folded$/);
    const folded = readFileSync(await download.path(), 'utf8');
    assert.match(folded, /^main;burn \d+$/m, folded);
    assert.doesNotMatch(folded, /epoll_loop/);
    // A field the API refuses: its message, beside the links.
    await page.fill('input[name=uid]', 'x');
    await page.click('[data-testid=profile-downloads] button[name="download.svg"]');
    await waitForText('[data-testid=profile-downloads] .error', /uid: /);
    await page.fill('input[name=uid]', '');

    await page.fill('[data-testid=flame-graph] input[type=search]', 'clear_page');
    await waitForText('[data-testid=flame-graph] .row', /matched 2\.00 s \(20\.00% of the view\)/);
    assert.equal((await page.$$('[data-testid=flame-graph] .frame.match')).length, 1);

    // Zoom into burn+0x30: it is the whole width now, and the tooltip gives its share of all.
    const burn = await page.$$('[data-testid=flame-graph] .frame');
    let target;
    for (const f of burn)
      if (
        (
          await f.evaluate((el) => (el as unknown as { textContent: string }).textContent)
        ).startsWith('burn+0x30')
      )
        target = f;
    assert.ok(target, 'burn+0x30 is drawn');
    await target.click();
    await waitForText('[data-testid=flame-graph] .row', /Reset zoom/);
    await target.hover().catch(() => undefined);
    const zoomed = await page.$$eval('[data-testid=flame-graph] .frame:not(.behind) rect', (els) =>
      els.map((el) =>
        Number((el as unknown as { getAttribute(n: string): string }).getAttribute('width')),
      ),
    );
    assert.ok(Math.max(...zoomed) > 1190, `the zoomed frame spans the width: ${zoomed.join(', ')}`);
    const hovered = await page.$$('[data-testid=flame-graph] .frame:not(.behind)');
    await hovered[0]?.hover();
    await waitForText('.tooltip', /burn\+0x30[\s\S]*2\.00 s · 20\.00% of all/);
  });

  test('profiles: a differential against another uid, red where it grew, blue where it shrank', async () => {
    // Away and back: a fresh profiles page, not the previous test's.
    await page.goto(`${c.url}/#/crashes`);
    await page.goto(`${c.url}/#/profiles`);
    await page.waitForSelector('input[name=comm]');
    await page.fill('input[name=comm]', '');
    await page.fill('input[name=uid]', '2001');
    // No baseline field: said so, nothing sent.
    await page.click('[data-testid=diff-form] button[type=submit]');
    await waitForText('section .error', /^baseline: /);
    assert.equal(await page.$('[data-testid=diff-view]'), null);
    await page.fill('input[name="base.uid"]', '2002');
    await page.click('[data-testid=diff-form] button[type=submit]');
    await page.waitForSelector('[data-testid=diff-view] [data-testid=flame-graph] svg');
    assert.match(
      await text('[data-testid=diff-view]'),
      /2 stacks; target 1,000 samples, baseline 1,000 samples/,
    );
    const fill = (name: string) =>
      page.$$eval(
        '[data-testid=diff-view] .frame',
        (frames, n) =>
          frames
            .filter((f) =>
              ((f as unknown as { textContent: string }).textContent ?? '').startsWith(n),
            )
            .map((f) =>
              (f as unknown as { querySelector(s: string): { getAttribute(a: string): string } })
                .querySelector('rect')
                .getAttribute('fill'),
            ),
        name,
      );
    const rgb = (fills: string[]) => {
      assert.equal(fills.length, 1, `one frame: ${fills.join(', ')}`);
      return (/^rgb\((\d+),(\d+),(\d+)\)$/.exec(fills[0] as string) ?? []).slice(1).map(Number);
    };
    // grow: 100 → 900 samples, the largest change: deep red. shrink: 900 → 100, deep blue. main: unchanged, white.
    const [gr, gg, gb] = rgb(await fill('grow'));
    assert.ok(gr === 255 && gg === gb && (gg as number) < 100, `grow is red: ${gr},${gg},${gb}`);
    const [sr, sg, sb] = rgb(await fill('shrink'));
    assert.ok(sb === 255 && sr === sg && (sr as number) < 100, `shrink is blue: ${sr},${sg},${sb}`);
    assert.deepEqual(rgb(await fill('main')), [255, 255, 255]);

    // Widths are the target's: grow 90% of the width.
    const grow = page.locator('[data-testid=diff-view] .frame', { hasText: /^grow/ });
    assert.ok(Number(await grow.locator('rect').getAttribute('width')) > 1070);
    await grow.hover();
    await waitForText(
      '.tooltip',
      /grow[\s\S]*base 100 samples · target 900 samples · \+800 samples \(800\.0%\)/,
    );

    // Search and zoom as in the normal view.
    await page.fill('[data-testid=diff-view] input[type=search]', 'shrink');
    await waitForText(
      '[data-testid=diff-view] .flame .row',
      /matched 100 samples \(10\.00% of the view\)/,
    );
    await grow.click();
    await waitForText('[data-testid=diff-view] .flame .row', /Reset zoom/);

    // The differential as a file: two-column folded.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('[data-testid=diff-downloads] button[name="download.folded"]'),
    ]);
    assert.match(download.suggestedFilename(), /^fleettrace-cpu-diff-uid-2001-[\dT-]+\.folded$/);
    const folded = readFileSync(await download.path(), 'utf8');
    assert.match(folded, /^main;grow 100000 900000$/m, folded);
    assert.match(folded, /^main;shrink 900000 100000$/m, folded);

    // normalize=true goes to the API (equal totals: the same values).
    await page.click('input[name=normalize]');
    await page.click('[data-testid=diff-form] button[type=submit]');
    await waitForText('[data-testid=diff-view]', /baseline 1,000 samples/);
    const [svg] = await Promise.all([
      page.waitForEvent('download'),
      page.click('[data-testid=diff-downloads] button[name="download.svg"]'),
    ]);
    assert.match(svg.suggestedFilename(), /\.svg$/);
    assert.match(readFileSync(await svg.path(), 'utf8'), /<svg[\s\S]*grow/);
  });

  test('a viewer is not offered what its role cannot do; signing out forgets the token', async () => {
    const running = await admin.post<{ id: string }>('/api/v1/jobs', {
      targets: { hosts: ['uitest-*'] },
      collectors: [{ name: 'syscalls' }],
      duration: '5m',
    });
    assert.equal(running.status, 201);
    await page.goto(`${c.url}/#/jobs`);
    await page.waitForSelector('header button.link');
    await page.click('header button.link');
    await page.waitForSelector('input[name=token]');
    assert.equal(await page.evaluate("sessionStorage.getItem('fleettrace.token')"), null);
    await page.fill('input[name=token]', await apiToken(admin, 'viewer'));
    await page.click('button[type=submit]');
    await waitForText(
      'main',
      /Your token's role \(viewer\) reads jobs; running them needs operator/,
    );
    assert.equal(await page.$('[data-testid=job-form]'), null, 'no job form');
    // The jobs are listed (the click waits for the first row).
    await page.locator('[data-testid=jobs] tbody tr.clickable').first().click();
    await waitForText('[data-testid=job-detail]', new RegExp(`${running.body.id}\\s+running`));
    await waitForText('[data-testid=job-detail]', /uitest-1\s+running/);
    assert.equal(await page.$('[data-testid=job-detail] button.danger'), null, 'no cancel');
  });

  test('nothing was refused by the Content-Security-Policy, and no script failed', () => {
    assert.deepEqual(session.problems, []);
  });
});
