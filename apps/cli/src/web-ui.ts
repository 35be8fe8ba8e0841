// SPDX-License-Identifier: Apache-2.0
/**
 * Where the built web UI is: the dist/ of @fleettrace/web, which `pnpm build`
 * makes. The controller takes it as its uiDir; it knows nothing of the package.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The built UI's directory, or undefined when @fleettrace/web is not there or not built. */
export function builtWebUi(): string | undefined {
  let manifest: string;
  try {
    manifest = require.resolve('@fleettrace/web/package.json');
  } catch {
    return undefined;
  }
  const dir = join(dirname(manifest), 'dist');
  return existsSync(join(dir, 'index.html')) ? dir : undefined;
}
