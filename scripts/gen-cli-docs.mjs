// SPDX-License-Identifier: Apache-2.0
// Writes the command reference of docs/cli.md (every command and subcommand
// with its --help, between `<!-- generated:commands -->` markers; the prose
// around them is hand-written) from the built CLI's command definitions, read
// by apps/cli/src/cli-docs.ts. Run after `pnpm build`. `--check` writes
// nothing and exits 1 when the page is out of date (apps/cli/test/help.test.ts
// runs it).
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    check: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: node scripts/gen-cli-docs.mjs [--check]');
  process.exit(0);
}
const root = join(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
const { commandReference, COMMANDS_BEGIN, COMMANDS_END } = require(
  join(root, 'apps/cli/dist/src/cli-docs.js'),
);
const rel = 'docs/cli.md';
const page = join(root, rel);
const text = readFileSync(page, 'utf8');
const begin = text.indexOf(COMMANDS_BEGIN);
const end = text.indexOf(COMMANDS_END);
if (begin < 0 || end < begin) {
  console.error(
    `gen-cli-docs: ${rel}: the markers ${COMMANDS_BEGIN} ... ${COMMANDS_END} are missing`,
  );
  process.exit(1);
}
const next = text.slice(0, begin) + commandReference() + text.slice(end + COMMANDS_END.length + 1);
if (next === text) {
  console.log('gen-cli-docs: up to date');
} else if (values.check) {
  console.error(
    `gen-cli-docs: ${rel} is out of date with the command definitions\n` +
      'run `pnpm build:ts && node scripts/gen-cli-docs.mjs`',
  );
  process.exit(1);
} else {
  writeFileSync(page, next);
  console.log(`gen-cli-docs: wrote ${rel}`);
}
