// SPDX-License-Identifier: Apache-2.0
// From the collector manifests (packages/collectors/src/<name>/manifest.ts,
// plus folders in FLEETTRACE_COLLECTOR_PATH) to:
//   - services/ingest/src/schema/collector-migrations.gen.ts: a new migration
//     appended when a manifest adds a table or a column (released migrations
//     are never rewritten);
//   - the column tables of docs/schema.md, the per-collector rows of
//     docs/kernels.md and the role table of docs/schema.md (between
//     `<!-- generated:... -->` markers; the prose around them is hand-written).
// Run after `pnpm build`, then `pnpm build:ts` to compile the new migration.
// `--check` writes nothing and exits 1 when anything is out of date (the
// registry test runs it). `--root DIR` works on a copy of the workspace.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    check: { type: 'boolean', default: false },
    root: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: node scripts/gen-schema.mjs [--check] [--root DIR]');
  process.exit(0);
}
const code = join(import.meta.dirname, '..');
const root = values.root ?? code;
const require = createRequire(import.meta.url);
const { manifests } = require(join(code, 'packages/collectors/dist/src/manifests.js'));
const schema = require(join(code, 'services/ingest/dist/src/schema/collector-schema.js'));
const { HAND_MIGRATIONS } = require(join(code, 'services/ingest/dist/src/schema/migrations.js'));

const all = [...manifests().values()];
const outdated = [];
const write = (rel, text) => {
  const file = join(root, rel);
  if (readFileSync(file, 'utf8') === text) return;
  outdated.push(rel);
  if (!values.check) writeFileSync(file, text);
};

const genRel = 'services/ingest/src/schema/collector-migrations.gen.ts';
const { baseline, migrations } = schema.parseGenFile(readFileSync(join(root, genRel), 'utf8'));
const versions = [...HAND_MIGRATIONS, ...migrations].map((m) => m.version);
const next = schema.pendingMigration(all, Math.max(...versions) + 1, migrations);
if (next) {
  console.log(`migration ${next.version}: ${next.name}`);
  write(genRel, schema.renderGenFile(baseline, [...migrations, next]));
}
const doc = (rel, render) => write(rel, render(readFileSync(join(root, rel), 'utf8'), all));
doc('docs/schema.md', (text, m) => schema.renderRolesDoc(schema.renderSchemaDoc(text, m), m));
doc('docs/kernels.md', schema.renderKernelsDoc);

if (values.check && outdated.length) {
  console.error(
    `gen-schema: out of date with the collector manifests: ${outdated.join(', ')}\n` +
      'run `pnpm build && node scripts/gen-schema.mjs && pnpm build:ts`',
  );
  process.exit(1);
}
console.log(
  outdated.length ? `gen-schema: wrote ${outdated.join(', ')}` : 'gen-schema: up to date',
);
