// SPDX-License-Identifier: Apache-2.0
/**
 * The web UI beside the API: a controller given a UI directory serves its
 * index.html at / and its hashed assets under their content types, with the
 * Content-Security-Policy and cache headers; a missing asset is a 404; the
 * API still needs a token; and a directory that is not a built UI is refused
 * at start, naming the option.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { JsonLogger, ValidationError } from '@fleettrace/common';
import { startController, type RunningController } from '../../src/controller-app.js';
import { UI_CONTENT_SECURITY_POLICY } from '../../src/http/static-ui.js';

const INDEX =
  '<!doctype html><title>fleettrace</title><script type="module" src="/assets/index-Ab12Cd34.js"></script>';
const SCRIPT = 'document.title = "fleettrace";\n';

function options(dataDir: string, uiDir: string) {
  return {
    dataDir,
    listen: '127.0.0.1:0',
    enrollListen: '127.0.0.1:0',
    controlListen: '127.0.0.1:0',
    logger: new JsonLogger('error', { service: 'controller' }),
    uiDir,
  };
}

describe('web UI served by the controller', () => {
  let root: string;
  let ui: string;
  let controller: RunningController;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'fleettrace-static-ui-'));
    ui = join(root, 'ui');
    mkdirSync(join(ui, 'assets'), { recursive: true });
    writeFileSync(join(ui, 'index.html'), INDEX);
    writeFileSync(join(ui, 'assets', 'index-Ab12Cd34.js'), SCRIPT);
    writeFileSync(join(ui, 'assets', 'index-Ef56Gh78.css'), 'body { margin: 0 }\n');
    controller = await startController(options(join(root, 'data'), ui));
  });
  after(async () => {
    await controller?.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('/ is index.html, with the CSP, nosniff and revalidation', async () => {
    assert.equal(controller.uiUrl, `${controller.url}/`);
    const res = await fetch(`${controller.url}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), INDEX);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(res.headers.get('content-security-policy'), UI_CONTENT_SECURITY_POLICY);
    assert.match(res.headers.get('content-security-policy') ?? '', /^default-src 'self';/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    const etag = res.headers.get('etag');
    assert.ok(etag);
    const again = await fetch(`${controller.url}/index.html`, {
      headers: { 'if-none-match': etag },
    });
    assert.equal(again.status, 304);
  });

  test('a hashed asset has its content type and may be cached for a year', async () => {
    const js = await fetch(`${controller.url}/assets/index-Ab12Cd34.js`);
    assert.equal(js.status, 200);
    assert.equal(await js.text(), SCRIPT);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(js.headers.get('x-content-type-options'), 'nosniff');
    const css = await fetch(`${controller.url}/assets/index-Ef56Gh78.css`);
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
    const head = await fetch(`${controller.url}/assets/index-Ab12Cd34.js`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(SCRIPT)));
  });

  test('a missing asset is a 404, and no path leaves the directory', async () => {
    for (const path of [
      '/assets/index-00000000.js',
      '/assets/../index.html/x',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/assets/%2e%2e%2findex.html',
    ]) {
      const res = await fetch(`${controller.url}${path}`);
      assert.equal(res.status, 404, path);
      await res.arrayBuffer();
    }
  });

  test('the API still needs a token; health and the OpenAPI document do not', async () => {
    const anon = await fetch(`${controller.url}/api/v1/whoami`);
    assert.equal(anon.status, 401);
    assert.equal(anon.headers.get('content-security-policy'), null);
    const agents = await fetch(`${controller.url}/api/v1/agents`);
    assert.equal(agents.status, 401);
    assert.equal((await fetch(`${controller.url}/healthz`)).status, 200);
    const me = await fetch(`${controller.url}/api/v1/whoami`, {
      headers: { authorization: `Bearer ${controller.firstAdminToken as string}` },
    });
    assert.equal(me.status, 200);
    const body = (await me.json()) as { role: string; collectors: string[] };
    assert.equal(body.role, 'admin');
    assert.ok(body.collectors.includes('proc'), 'admin may run the sensitive collectors');
  });

  test('a directory that is not a built UI is refused, naming the option', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const file = join(root, 'file');
    writeFileSync(file, '');
    for (const [dir, reason] of [
      [join(root, 'missing'), /does not exist/],
      [file, /is not a directory/],
      [empty, /holds no index\.html/],
    ] as const) {
      await assert.rejects(
        startController(options(join(root, 'data-bad'), dir)),
        (err: unknown) =>
          err instanceof ValidationError &&
          err.field === 'uiDir' &&
          err.message.startsWith('uiDir: ') &&
          reason.test(err.message),
        dir,
      );
    }
  });
});
