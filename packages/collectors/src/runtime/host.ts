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

export function bpfObjectPath(name: string): string {
  const path = join(bpfBuildDir(), `${name}.bpf.o`);
  if (!existsSync(path))
    throw new Error(
      `BPF object ${path} is missing: run \`pnpm build\` (or set FLEETTRACE_BPF_DIR)`,
    );
  return path;
}

export function localHost(): HostContext {
  return {
    users: new UserNames(),
    cgroups: new CgroupPaths(),
    bpfObjectPath,
    symbolizer: new Symbolizer(),
  };
}
