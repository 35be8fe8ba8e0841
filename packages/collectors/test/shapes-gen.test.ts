// SPDX-License-Identifier: Apache-2.0
/**
 * The generated C shapes (layout.gen.ts per collector, runtime/shapes.gen.ts)
 * and UAPI constants (syscall_trace/uapi-constants.gen.ts) are checked in: they must be what scripts/gen-layouts.mjs produces from the
 * current headers and BPF objects, so a header change without a regenerate fails.
 */
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { COMM_MAX_BYTES } from '@fleettrace/collector-spec';
import { CGROUP_V1_BIT } from '@fleettrace/common';
import { defines } from '../src/runtime/shapes.gen';

const root = join(__dirname, '../../../..');

test('generated C shapes match bpf/ headers and objects (gen-layouts --check)', () => {
  const r = spawnSync(process.execPath, [join(root, 'scripts/gen-layouts.mjs'), '--check'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr + r.stdout);
});

// Values from this host's linux-libc-dev/libc6-dev: a header package update shows up here.
test('generated UAPI constants match the system headers (gen-uapi-constants --check)', () => {
  const r = spawnSync(process.execPath, [join(root, 'scripts/gen-uapi-constants.mjs'), '--check'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr + r.stdout);
});

// @fleettrace/common and collector-spec run on hosts without BPF objects (the
// controller) and keep their own values: checked here against the headers.
test('common cgroup v1 tag is FT_CGROUP_V1 of ft_event.h', () => {
  assert.equal(CGROUP_V1_BIT, defines.FT_CGROUP_V1);
});

test('the comm filter length is FT_COMM_LEN without its NUL', () => {
  assert.equal(COMM_MAX_BYTES, defines.FT_COMM_LEN - 1);
});
