// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { memoryCaches } from '@fleettrace/common';
import { Symbolizer } from '../src/index';
import { LruCache } from '../src/lru-cache';

const figuresOf = (name: string) => memoryCaches.figures().find((f) => f.name === name);

describe('bounded caches', () => {
  test('filled past its byte bound, an LRU stays within it and counts what it evicted', () => {
    const cache = new LruCache<number, string>(1_000_000, {
      name: 'test.strings',
      maxBytes: 10_000,
      sizeOf: (v) => v.length,
    });
    for (let i = 0; i < 1_000; i++) cache.set(i, 'x'.repeat(100)); // 100,000 bytes offered
    assert.ok(cache.bytes <= 10_000, `${cache.bytes} bytes`);
    assert.equal(cache.size, 100);
    assert.equal(cache.evictions, 900);
    assert.equal(cache.get(0), undefined, 'the oldest went first');
    assert.equal(cache.get(999), 'x'.repeat(100));
    const f = figuresOf('test.strings');
    assert.deepEqual(
      { entries: f?.entries, bytes: f?.bytes, maxBytes: f?.maxBytes, evictions: f?.evictions },
      { entries: 100, bytes: 10_000, maxBytes: 10_000, evictions: 900 },
    );
    // An entry larger than the whole bound is not kept, and pushes nothing out.
    cache.set(-1, 'y'.repeat(20_000));
    assert.equal(cache.has(-1), false);
    assert.equal(cache.size, 100);
    assert.equal(cache.evictions, 901);
    // shrink (what the agent's memory governor asks under pressure)
    for (let i = 0; i < 100; i++) cache.set(i, 'z'.repeat(100));
    memoryCaches.shrinkAll(0.5);
    assert.ok(cache.bytes <= 5_000, `${cache.bytes} bytes after shrinking to half`);
  });

  test('an entry bound still holds without sizes', () => {
    const cache = new LruCache<number, number>(10);
    for (let i = 0; i < 25; i++) cache.set(i, i);
    assert.equal(cache.size, 10);
    assert.equal(cache.evictions, 15);
    assert.throws(() => new LruCache(10, { maxBytes: 5 }), /maxBytes needs sizeOf/);
    assert.throws(() => new LruCache(0), /positive integer/);
  });

  test("the symbolizer's parsed ELF files stay within their byte bound", () => {
    // This process maps node, libc, libstdc++ and more: several MB of symbols for a 1 MB bound.
    const symbolizer = new Symbolizer({ maxElfBytes: 1024 * 1024, maxProcessBytes: 4096 });
    const before = figuresOf('symbols.elf_files')?.evictions ?? 0;
    assert.equal(symbolizer.notePid(process.pid), true);
    const elf = figuresOf('symbols.elf_files');
    assert.ok(elf, 'registered');
    // Other symbolizers of this process are summed in: this one holds at most its bound.
    assert.ok(elf.evictions > before, `evictions ${elf.evictions}`);
    const stats = symbolizer.stats();
    assert.ok(stats.elfFiles >= 0);
    const maps = figuresOf('symbols.process_maps');
    assert.ok(maps && maps.maxBytes >= 4096);
    // A record bigger than its bound is not kept; the process is noted again when next seen.
    assert.ok(stats.processes <= 1);
    const kernel = symbolizer.symbolizeKernel([0n]);
    assert.equal(kernel.length, 1);
    const k = figuresOf('symbols.kernel');
    assert.ok(k && k.entries === 1 && k.bytes > 1_000_000, `kernel symbols ${JSON.stringify(k)}`);
  });
});
