// SPDX-License-Identifier: Apache-2.0
/** `fleettrace up` serves the web UI that `pnpm build` made: it finds it through its package. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { builtWebUi } from '../src/web-ui';

test("up's UI directory is @fleettrace/web's built dist/", () => {
  const dir = builtWebUi();
  assert.equal(dir, resolve(__dirname, '../../../web/dist'), 'pnpm build builds apps/web');
  assert.ok(existsSync(join(dir, 'index.html')));
});
