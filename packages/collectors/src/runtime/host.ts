// SPDX-License-Identifier: Apache-2.0
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CgroupPaths, UserNames } from '@fleettrace/common';
import { Symbolizer } from '@fleettrace/symbols';
import type { HostContext } from './definition';

/**
 * Where compiled BPF objects live: $FLEETTRACE_BPF_DIR, else bpf/build of this
 * checkout (packages/collectors/dist/src/runtime -> repository root).
 */
export function bpfBuildDir(): string {
  return process.env.FLEETTRACE_BPF_DIR ?? resolve(__dirname, '../../../../../bpf/build');
}

/**
 * A collector's compiled program: in bpfBuildDir(), else in the folders of
 * $FLEETTRACE_BPF_PATH (colon-separated; where collectors from
 * FLEETTRACE_COLLECTOR_PATH keep theirs).
 */
export function bpfObjectPath(name: string): string {
  const extra = (process.env.FLEETTRACE_BPF_PATH ?? '').split(':').filter(Boolean);
  const path = join(bpfBuildDir(), `${name}.bpf.o`);
  if (existsSync(path)) return path;
  for (const dir of extra) {
    const other = join(dir, `${name}.bpf.o`);
    if (existsSync(other)) return other;
  }
  throw new Error(`BPF object ${path} is missing: run \`pnpm build\` (or set FLEETTRACE_BPF_DIR)`);
}

export function localHost(): HostContext {
  return {
    users: new UserNames(),
    cgroups: new CgroupPaths(),
    bpfObjectPath,
    symbolizer: new Symbolizer(),
  };
}
