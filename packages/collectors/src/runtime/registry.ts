// SPDX-License-Identifier: Apache-2.0
/**
 * Finds collectors by their folders: every src/<name>/collector.ts that
 * exports `collector` is one, and so is every <name>/collector.js in the
 * folders of FLEETTRACE_COLLECTOR_PATH (the search path of the manifests).
 * Nothing else to register.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { collectorSearchPath } from '../manifests';
import type { CollectorDefinition } from './definition';

let cache: { key: string; found: Map<string, CollectorDefinition> } | undefined;

export function collectors(): Map<string, CollectorDefinition> {
  const path = collectorSearchPath();
  const key = path.join(':');
  if (cache?.key === key) return cache.found;
  const found = new Map<string, CollectorDefinition>();
  for (const root of path) {
    for (const entry of readdirSync(root, { withFileTypes: true })) {
      const file = join(root, entry.name, 'collector.js');
      if (!entry.isDirectory() || !existsSync(file)) continue;
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- discovery is by folder at run time
      const mod = require(file) as { collector?: CollectorDefinition };
      if (!mod.collector) throw new Error(`${file} does not export a collector`);
      if (mod.collector.name !== entry.name) {
        throw new Error(`collector in folder ${entry.name} calls itself ${mod.collector.name}`);
      }
      if (found.has(entry.name))
        throw new Error(`collector ${entry.name} is defined twice (${root})`);
      found.set(entry.name, mod.collector);
    }
  }
  cache = { key, found };
  return found;
}

export function collector(name: string): CollectorDefinition | undefined {
  return collectors().get(name);
}
