// SPDX-License-Identifier: Apache-2.0
/**
 * The web UI end to end on a real `fleettrace up` (its agent loads the BPF
 * programs): sign in with the admin token `up` wrote for the local CLI;
 * start a cpu_profile job from the form on this host while a known uid
 * burns CPU in fleettrace_test_burn, watch its run finish, find that
 * function in the job's flame graph and in its folded download; count the
 * rows in the SQL console; the form shows the API's message for hz = 5000;
 * a viewer token is not offered the form. A screenshot of each page is kept
 * (browser-session.ts says where).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { workload } from '@fleettrace/testing';
import { waitFor } from '../control-plane/harness';
import { freeUpPorts, startUp } from '../harness/up-process';
import { noChromium, openBrowser, SCREENSHOTS, type BrowserSession } from './browser-session';
import { assertBuilt } from './web-ui-dir';

const CLI = resolve(__dirname, '../../../bin/fleettrace');
/** A spare uid, so that the burner's samples are recognisably its own. */
const UID = 61000 + (process.pid % 4000);
const HOST = hostname();

const skip =
  noChromium ||
  (process.getuid?.() !== 0
    ? 'needs root: the agent of `fleettrace up` loads BPF programs'
    : false);

describe('web UI on fleettrace up', { skip, timeout: 420_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleettrace-up-ui-'));
  // No server or token in the environment: the admin token is the one `up` wrote for the CLI.
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: join(dir, 'config') };
  delete env.FLEETTRACE_SERVER;
  delete env.FLEETTRACE_TOKEN;
  let up: ChildProcess | undefined;
  let upLog: () => string = () => '';
  let url: string;
  let adminToken: string;
  let session: BrowserSession;
  let page: Page;
  let burner: ChildProcess | undefined;
  let jobId: string;

  const cli = (...args: string[]) =>
    spawnSync(CLI, args, { env, encoding: 'utf8', timeout: 60_000 });
  const text = (selector: string) => session.text(selector);
  const waitForText = (selector: string, pattern: RegExp, ms?: number) =>
    session.waitForText(selector, pattern, ms);

  async function signIn(token: string): Promise<void> {
    await page.goto(`${url}/#/fleet`);
    await page.fill('input[name=token]', token);
    await page.click('button[type=submit]');
    await page.waitForSelector('header nav');
  }

  async function signOut(): Promise<void> {
    await page.click('header button.link');
    await page.waitForSelector('input[name=token]');
  }

  before(async () => {
    assertBuilt();
    const started = await startUp({ data: join(dir, 'data'), env, ports: await freeUpPorts() });
    up = started.child;
    upLog = started.stderr;
    const local = JSON.parse(
      readFileSync(join(dir, 'config', 'fleettrace', 'local.json'), 'utf8'),
    ) as { server: string; token: string };
    url = local.server;
    adminToken = local.token;
    session = await openBrowser();
    page = session.page;
  });

  after(async () => {
    burner?.kill('SIGKILL');
    await session?.close();
    if (up && up.exitCode === null) {
      const exited = once(up, 'exit');
      up.kill('SIGINT');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test("sign in with up's admin token: this host on the fleet page", async () => {
    await signIn(adminToken);
    assert.match(await text('header'), /admin/);
    await waitForText('[data-testid=hosts]', new RegExp(`${HOST}[\\s\\S]*connected`), 60_000);
    await session.screenshot('fleet');
  });

  test('a cpu_profile job from the form, on this host, runs to its end', async () => {
    burner = spawn(workload('burn', ['-fno-omit-frame-pointer']), ['60000'], {
      uid: UID,
      gid: UID,
      stdio: 'ignore',
    });
    await page.goto(`${url}/#/jobs`);
    await page.waitForSelector('[data-testid=job-form]');
    await page.fill('input[name="targets.hosts"]', HOST);
    await page.click('input[name="collector.cpu_profile"]');
    await page.fill('input[name="params.cpu_profile"]', 'hz=99');
    await page.fill('input[name="filters.uid"]', String(UID));
    await page.fill('input[name=duration]', '8s');
    await page.click('[data-testid=job-form] button[type=submit]');
    await waitForText('[data-testid=job-detail]', new RegExp(`${HOST}\\s+(pending|running)`));
    jobId = /Job (\S+)/.exec(await text('[data-testid=job-detail] h3'))?.[1] ?? '';
    assert.ok(jobId, 'the new job is shown');
    await waitForText('[data-testid=job-detail]', new RegExp(`${HOST}\\s+finished`), 90_000);
    await waitForText('[data-testid=job-detail] h3', /finished/, 30_000);
    await waitForText('[data-testid=jobs]', new RegExp(`${jobId}\\s+finished\\s+cpu_profile`));
    await session.screenshot('jobs');
    burner.kill('SIGKILL');
  });

  test("the job's flame graph has the burning function; search highlights it; folded download", async () => {
    await page.goto(`${url}/#/profiles`);
    await page.fill('input[name=uid]', String(UID));
    await page.fill('input[name=job]', jobId);
    // The samples reach the store with the run's last drain and ingest's next flush.
    await waitFor(
      'the flame graph of the job',
      async () => {
        await page.click('.filters button[type=submit]');
        await page.waitForSelector('.filters button[type=submit]:not([disabled])');
        return /fleettrace_test_burn/.test(await text('[data-testid=flame-graph] svg'));
      },
      60_000,
      2000,
    );
    await page.fill('[data-testid=flame-graph] input[type=search]', 'fleettrace_test_burn');
    await waitForText('[data-testid=flame-graph] .row', /matched .* \((\d+\.\d+)% of the view\)/);
    const share = Number(
      /\((\d+\.\d+)% of the view\)/.exec(await text('[data-testid=flame-graph] .row'))?.[1],
    );
    assert.ok(share > 50, `the burner spends most of its samples in the function: ${share}%`);
    assert.ok((await page.$$('[data-testid=flame-graph] .frame.match')).length >= 1, 'highlighted');
    await session.screenshot('profiles');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('[data-testid=profile-downloads] button[name="download.folded"]'),
    ]);
    assert.match(
      download.suggestedFilename(),
      new RegExp(`^fleettrace-cpu-uid-${UID}-job-${jobId}-[\\dT-]+\\.folded$`),
    );
    const folded = readFileSync(await download.path(), 'utf8');
    assert.match(folded, /;fleettrace_test_burn \d+$/m, folded.slice(0, 2000));
  });

  test('the crashes page loads', async () => {
    await page.goto(`${url}/#/crashes`);
    await page.waitForSelector('svg.timeline');
    await session.screenshot('crashes');
  });

  test('SQL: the rows of cpu_profile, counted in a result table', async () => {
    await page.goto(`${url}/#/sql`);
    await page.fill('textarea[name=sql]', 'SELECT count() FROM fleettrace.cpu_profile');
    await page.click('[data-testid=run-sql]');
    await waitForText('[data-testid=result-count]', /^1 row\b/, 30_000);
    assert.match(await text('[data-testid=result] thead'), /count\(\)/);
    const n = Number(await text('[data-testid=result] tbody td'));
    assert.ok(n > 0, `cpu_profile has rows: ${n}`);
    await session.screenshot('sql');
  });

  test("hz = 5000: the API's message for that field, beside the form", async () => {
    await page.goto(`${url}/#/jobs`);
    await page.waitForSelector('[data-testid=job-form]');
    await page.fill('input[name="targets.hosts"]', HOST);
    await page.click('input[name="collector.cpu_profile"]');
    await page.fill('input[name="params.cpu_profile"]', 'hz=5000');
    await page.click('[data-testid=job-form] button[type=submit]');
    await waitForText('[data-testid=job-error]', /hz/);
    const direct = await fetch(`${url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        targets: { hosts: [HOST] },
        collectors: [{ name: 'cpu_profile', params: { hz: 5000 } }],
        duration: '30s',
        limits: { overhead_budget: 0.01 },
      }),
    });
    assert.equal(direct.status, 400);
    const { error } = (await direct.json()) as { error: string };
    assert.match(error, /hz: .*1000/, 'the API names the field and its bound');
    assert.equal(await text('[data-testid=job-error]'), error, 'word for word');
    assert.match(error, /^collectors\[0\]\.params\.hz: /);
    assert.ok(
      await page.$('.collector.invalid input[name="params.cpu_profile"]'),
      "cpu_profile's parameters are marked",
    );
    assert.equal(await page.$('fieldset.invalid'), null, 'not every collector');
    await session.screenshot('jobs-form-error');
  });

  test('a viewer token (fleettrace token create --role viewer) is not offered the job form', async () => {
    const created = cli('token', 'create', '--role', 'viewer', '--name', 'ui viewer');
    assert.equal(created.status, 0, created.stderr);
    const viewer = created.stdout.trim();
    await signOut();
    await signIn(viewer);
    assert.match(await text('header'), /ui viewer\s*viewer/);
    await page.goto(`${url}/#/jobs`);
    await waitForText(
      'main',
      /Your token's role \(viewer\) reads jobs; running them needs operator/,
    );
    assert.equal(await page.$('[data-testid=job-form]'), null, 'no job form');
    await waitForText('[data-testid=jobs]', new RegExp(jobId));
    await session.screenshot('jobs-viewer');
  });

  test('screenshots of every page, as PNG files; no refusal by the CSP, no script error', () => {
    const files = readdirSync(SCREENSHOTS);
    for (const name of ['fleet', 'jobs', 'profiles', 'crashes', 'sql'])
      assert.ok(files.includes(`${name}.png`), `${name}.png in ${SCREENSHOTS}`);
    console.log(`screenshots: ${SCREENSHOTS}`);
    assert.deepEqual(session.problems, []);
    assert.doesNotMatch(upLog(), /no table has a column for/);
  });
});
