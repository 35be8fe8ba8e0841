// SPDX-License-Identifier: Apache-2.0
// Runs every compiled test file of the workspace with node's test runner, one
// file at a time (kernel tests share the machine: `bpftool prog` must show only
// what the running test loaded), and ends with "N passed, N failed, N skipped".
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const roots = ['native/dist/test', 'test/dist'];
for (const dir of ['packages', 'services', 'apps']) {
  if (!existsSync(join(root, dir))) continue;
  for (const p of readdirSync(join(root, dir))) roots.push(`${dir}/${p}/dist/test`);
}

function walk(dir, out) {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (e.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filter = process.argv[2];
const files = roots
  .flatMap((r) => walk(join(root, r), []))
  .filter((f) => !filter || f.includes(filter))
  .sort();
if (files.length === 0) {
  console.error('no compiled tests found: run `pnpm build` first');
  process.exit(1);
}
console.log(
  `running ${files.length} test files:\n  ${files.map((f) => relative(root, f)).join('\n  ')}\n`,
);

const tap = join(root, '.test-results.tap');
rmSync(tap, { force: true });
const r = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-concurrency=1',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...files,
  ],
  { stdio: 'inherit', cwd: root },
);
const summary = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
const count = (k) => Number(summary.match(new RegExp(`^# ${k} (\\d+)$`, 'm'))?.[1] ?? 0);
const passed = count('pass');
const failed = count('fail') + count('cancelled');
const skipped = count('skipped') + count('todo');
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(r.status === 0 && failed === 0 && passed > 0 ? 0 : 1);
