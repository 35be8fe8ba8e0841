// SPDX-License-Identifier: Apache-2.0
// Writes the reference part of docs/config.md (every key of every section of
// the --config file) from the built CLI: the services' option definitions
// (the same ones their --help is made from), read by apps/cli/src/config-docs.ts. Run after `pnpm build`;
// apps/cli/test/config-file.test.ts fails when the page is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
const { configReference, REFERENCE_BEGIN, REFERENCE_END } = require(
  join(root, 'apps/cli/dist/src/config-docs.js'),
);
const page = join(root, 'docs/config.md');
const text = readFileSync(page, 'utf8');
const begin = text.indexOf(REFERENCE_BEGIN);
const end = text.indexOf(REFERENCE_END);
if (begin < 0 || end < begin) {
  console.error(`${page}: the generated reference's markers are missing`);
  process.exit(1);
}
writeFileSync(
  page,
  text.slice(0, begin) + configReference() + text.slice(end + REFERENCE_END.length + 1),
);
console.log('gen-config-docs: docs/config.md');
