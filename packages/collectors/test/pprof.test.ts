// SPDX-License-Identifier: Apache-2.0
/** The pprof export, read back by the reference implementation (go tool pprof). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodePprof } from '../src/runtime/pprof';

function goBinary(): string | undefined {
  for (const candidate of ['/usr/local/go/bin/go', '/usr/bin/go'])
    if (existsSync(candidate)) return candidate;
  try {
    return execFileSync('sh', ['-c', 'command -v go'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

test('go tool pprof reads the profile: functions, modules, weights, labels', (t) => {
  const go = goBinary();
  if (!go) {
    t.skip('go is not installed: cannot run go tool pprof');
    return;
  }
  const profile = encodePprof({
    sampleTypes: [
      ['samples', 'count'],
      ['cpu', 'nanoseconds'],
    ],
    periodType: ['cpu', 'nanoseconds'],
    period: 10_101_010,
    durationNanos: 2e9,
    samples: [
      {
        frames: ['fleettrace_test_burn+0x6a (burn)', 'main+0x136 (burn)', 'libc.so.6+0x2724a'],
        values: [90, 909_090_900],
        labels: { pid: 42, comm: 'burn' },
      },
      {
        frames: ['read_iter_zero+0x10 (kernel)', 'vfs_read+0x5 (kernel)', 'main+0x99 (burn)'],
        values: [10, 101_010_100],
        labels: { pid: 42, comm: 'burn' },
      },
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), 'ft-pprof-'));
  const file = join(dir, 'cpu.pb.gz');
  writeFileSync(file, profile);
  const top = execFileSync(go, ['tool', 'pprof', '-top', '-sample_index=samples', file], {
    encoding: 'utf8',
  });
  assert.match(top, /^\s*90\s+90(\.00)?%.*fleettrace_test_burn$/m);
  assert.match(top, /^\s*10\s+10(\.00)?%.*read_iter_zero$/m);
  // main is on both stacks: cumulative 100
  assert.match(top, /^\s*0\s+0(\.00)?%\s+100(\.00)?%\s+100\s+100(\.00)?%\s+main$/m);
  const tags = execFileSync(go, ['tool', 'pprof', '-tags', file], { encoding: 'utf8' });
  assert.match(tags, /comm: Total 1\.01s of 1\.01s \(\s*100%\)\s+1\.01s \(\s*100%\): burn/);
  assert.match(tags, /pid: Total 1\.01s of 1\.01s \(\s*100%\)\s+1\.01s \(\s*100%\): 42/);
});
