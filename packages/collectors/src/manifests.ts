// SPDX-License-Identifier: Apache-2.0
/**
 * The collectors' manifests, found by folder like the collectors themselves
 * (src/<name>/manifest.ts), without loading any kernel code: this entry
 * point (`@fleettrace/collectors/manifests`) is what ingest and the
 * controller use. FLEETTRACE_COLLECTOR_PATH adds folders of further
 * collectors (colon-separated, each holding <name>/manifest.js), which is how
 * tests add a fixture collector without editing anything.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CollectorManifest } from '@fleettrace/collector-spec';

let cache: { key: string; found: Map<string, CollectorManifest> } | undefined;

/** Folders searched for <name>/manifest.js, built-in first. */
export function collectorSearchPath(): string[] {
  const extra = (process.env.FLEETTRACE_COLLECTOR_PATH ?? '').split(':').filter(Boolean);
  return [__dirname, ...extra];
}

export function manifests(): Map<string, CollectorManifest> {
  const path = collectorSearchPath();
  const key = path.join(':');
  if (cache?.key === key) return cache.found;
  const found = new Map<string, CollectorManifest>();
  for (const root of path) {
    if (!existsSync(root)) throw new Error(`FLEETTRACE_COLLECTOR_PATH: ${root} does not exist`);
    for (const entry of readdirSync(root, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const file = join(root, entry.name, 'manifest.js');
      if (!entry.isDirectory() || !existsSync(file)) continue;
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- discovery is by folder at run time
      const mod = require(file) as { manifest?: CollectorManifest };
      if (!mod.manifest) throw new Error(`${file} does not export a manifest`);
      if (mod.manifest.name !== entry.name)
        throw new Error(`manifest in folder ${entry.name} calls itself ${mod.manifest.name}`);
      if (found.has(entry.name))
        throw new Error(`collector ${entry.name} is defined twice (${root})`);
      found.set(entry.name, mod.manifest);
    }
  }
  cache = { key, found };
  return found;
}

export function manifest(name: string): CollectorManifest | undefined {
  return manifests().get(name);
}
