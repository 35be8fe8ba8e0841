// SPDX-License-Identifier: Apache-2.0
/** The built web UI the tests of this folder look at: @fleettrace/web's dist/, made by `pnpm build`. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const WEB_DIST = join(dirname(require.resolve('@fleettrace/web/package.json')), 'dist');

/** Fails (not skips) when the UI was not built: the root build makes it, so CI always has it. */
export function assertBuilt(): void {
  if (!existsSync(join(WEB_DIST, 'index.html')))
    throw new Error(`${WEB_DIST}/index.html is missing: run \`pnpm build\` (it builds the web UI)`);
}
