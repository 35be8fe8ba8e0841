// SPDX-License-Identifier: Apache-2.0
/**
 * Every cache of the agent that grows with what it traces (process mappings,
 * parsed ELF files, kernel symbols, ...) registers here with its size bound,
 * so /metrics can show each one's size, bound and evictions, and the agent's
 * memory governor can shrink them all when the process nears its memory cap.
 * Held through WeakRefs: a cache whose owner is gone drops out by itself.
 */

export interface CacheFigures {
  /** what the cache holds, e.g. "symbols.elf_files" (caches of one name are summed) */
  name: string;
  entries: number;
  /** estimated bytes held (JS objects, typed arrays, strings) */
  bytes: number;
  /** the bound bytes stays within (Infinity for a cache bounded otherwise) */
  maxBytes: number;
  /** entries dropped to stay within the bound or on a shrink */
  evictions: number;
}

export interface TrackedCache {
  figures(): CacheFigures;
  /** drops least recently used entries until at most `fraction` of its bytes remain */
  shrink(fraction: number): void;
}

const tracked = new Set<WeakRef<TrackedCache>>();

function live(): TrackedCache[] {
  const out: TrackedCache[] = [];
  for (const ref of tracked) {
    const cache = ref.deref();
    if (cache) out.push(cache);
    else tracked.delete(ref);
  }
  return out;
}

export const memoryCaches = {
  register(cache: TrackedCache): void {
    tracked.add(new WeakRef(cache));
  },

  /** Figures per cache name, summed over the caches of that name, sorted by name. */
  figures(): CacheFigures[] {
    const byName = new Map<string, CacheFigures>();
    for (const c of live()) {
      const f = c.figures();
      const sum = byName.get(f.name);
      if (!sum) byName.set(f.name, { ...f });
      else {
        sum.entries += f.entries;
        sum.bytes += f.bytes;
        sum.maxBytes += f.maxBytes;
        sum.evictions += f.evictions;
      }
    }
    return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  },

  /** Shrinks every cache to `fraction` of its bytes; returns the bytes dropped (estimated). */
  shrinkAll(fraction: number): number {
    let dropped = 0;
    for (const c of live()) {
      const before = c.figures().bytes;
      c.shrink(fraction);
      dropped += before - c.figures().bytes;
    }
    return dropped;
  },
};
