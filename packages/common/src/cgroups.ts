// SPDX-License-Identifier: Apache-2.0
/**
 * The cgroup of DESIGN.md: the cgroup v2 path when a task sits in a non-root v2
 * cgroup, otherwise its v1 memory-controller path. The kernel side reports a
 * kernfs id (the directory's inode number on 64-bit hosts), with bit 63 set
 * for ids from the v1 memory hierarchy; this module turns ids into paths and
 * user-given paths into filter ids.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ValidationError } from './validation';
import { memoryCaches, type CacheFigures, type TrackedCache } from './memory-caches';

export const CGROUP_V1_BIT = 1n << 63n;

export interface CgroupMounts {
  /** the cgroup2 mount (/sys/fs/cgroup on pure v2 hosts, /sys/fs/cgroup/unified on hybrid ones) */
  v2?: string;
  /** the v1 memory controller mount */
  memory?: string;
}

export function cgroupMounts(mountsFile = '/proc/self/mounts'): CgroupMounts {
  const out: CgroupMounts = {};
  for (const line of readFileSync(mountsFile, 'utf8').split('\n')) {
    const [, dir, fstype, opts] = line.split(' ');
    if (!dir) continue;
    if (fstype === 'cgroup2' && !out.v2) out.v2 = dir;
    if (fstype === 'cgroup' && opts?.split(',').includes('memory') && !out.memory) out.memory = dir;
  }
  return out;
}

export interface CgroupFilter {
  /** kernfs id of the directory */
  id: bigint;
  /** whether the id is in the v1 memory hierarchy */
  v1: boolean;
  /** the path as reported in rows, relative to its hierarchy */
  path: string;
}

/**
 * Resolves a user's cgroup path. Accepted: an absolute path under a cgroup
 * mount (/sys/fs/cgroup/memory/site1, /sys/fs/cgroup/unified/site1), or a
 * hierarchy path such as /site1, looked up in v2 first, then in v1 memory.
 */
export function resolveCgroupFilter(
  field: string,
  path: string,
  mounts = cgroupMounts(),
): CgroupFilter {
  if (!path.startsWith('/'))
    throw new ValidationError(
      field,
      `must be an absolute cgroup path, got ${JSON.stringify(path)}`,
    );
  const candidates: Array<[string, boolean, string]> = [];
  for (const [mount, v1] of [
    [mounts.v2, false],
    [mounts.memory, true],
  ] as const) {
    if (!mount) continue;
    if (path === mount || path.startsWith(mount + '/'))
      candidates.push([path, v1, path.slice(mount.length) || '/']);
  }
  if (candidates.length === 0) {
    if (mounts.v2) candidates.push([join(mounts.v2, path), false, path]);
    if (mounts.memory) candidates.push([join(mounts.memory, path), true, path]);
  }
  for (const [dir, v1, rel] of candidates) {
    if (!existsSync(dir)) continue;
    const st = statSync(dir, { bigint: true });
    if (!st.isDirectory()) continue;
    return { id: st.ino, v1, path: rel };
  }
  throw new ValidationError(field, `no such cgroup: ${path}`);
}

/**
 * Maps reported cgroup values to hierarchy paths, rescanning on a miss
 * (bounded rate). A copy of the host's cgroup tree, so bounded by it; shown
 * in /metrics as "cgroups", and a shrink drops it (scanned again on a miss).
 */
export class CgroupPaths implements TrackedCache {
  private paths = new Map<bigint, string>();
  private bytes = 0;
  private scannedAt = 0;
  private evictions = 0;

  constructor(
    private readonly mounts = cgroupMounts(),
    private readonly rescanMs = 100,
  ) {
    memoryCaches.register(this);
  }

  figures(): CacheFigures {
    return {
      name: 'cgroups',
      entries: this.paths.size,
      bytes: this.bytes,
      maxBytes: Infinity,
      evictions: this.evictions,
    };
  }

  shrink(fraction: number): void {
    if (fraction >= 1 || this.paths.size === 0) return;
    this.evictions += this.paths.size;
    this.paths = new Map();
    this.bytes = 0;
  }

  path(value: bigint): string {
    if (value === 0n) return '';
    const hit = this.paths.get(value);
    if (hit !== undefined) return hit;
    if (Date.now() - this.scannedAt >= this.rescanMs) {
      this.scan();
      const again = this.paths.get(value);
      if (again !== undefined) return again;
    }
    const v1 = (value & CGROUP_V1_BIT) !== 0n;
    return `${v1 ? 'memory' : 'cgroup2'}:id:${value & ~CGROUP_V1_BIT}`;
  }

  private scan(): void {
    this.scannedAt = Date.now();
    const paths = new Map<bigint, string>();
    const walk = (root: string, rel: string, tag: bigint, depth: number): void => {
      let st;
      try {
        st = statSync(join(root, rel), { bigint: true });
      } catch {
        return;
      }
      paths.set(st.ino | tag, rel === '' ? '/' : rel);
      if (depth > 32) return;
      let entries;
      try {
        entries = readdirSync(join(root, rel), { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) if (e.isDirectory()) walk(root, `${rel}/${e.name}`, tag, depth + 1);
    };
    if (this.mounts.v2) walk(this.mounts.v2, '', 0n, 0);
    if (this.mounts.memory) walk(this.mounts.memory, '', CGROUP_V1_BIT, 0);
    this.paths = paths;
    let bytes = 0;
    for (const p of paths.values()) bytes += 80 + 2 * p.length; // a Map entry, its bigint and string
    this.bytes = bytes;
  }
}
