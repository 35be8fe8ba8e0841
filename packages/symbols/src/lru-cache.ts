// SPDX-License-Identifier: Apache-2.0
/**
 * A bounded map that forgets the least recently used entry first, bounded by
 * entries and, with `sizeOf`, by estimated bytes; evictions are counted. With
 * a `name` it registers with memoryCaches (/metrics, the agent's memory
 * governor). A Map iterates in insertion order, so re-inserting on every use
 * keeps the oldest entry first.
 */
import { memoryCaches, type CacheFigures, type TrackedCache } from '@fleettrace/common';

export interface LruOptions<Key, Value> {
  /** registers the cache under this name (see memoryCaches) */
  name?: string;
  /** bound on the sum of sizeOf over the entries (needs sizeOf) */
  maxBytes?: number;
  /** estimated bytes of one entry */
  sizeOf?: (value: Value, key: Key) => number;
}

export class LruCache<Key, Value> implements TrackedCache {
  private readonly entries = new Map<Key, { value: Value; bytes: number }>();
  private bytes_ = 0;
  private evictions_ = 0;
  readonly maxBytes: number;

  constructor(
    readonly capacity: number,
    private readonly options: LruOptions<Key, Value> = {},
  ) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`LRU capacity must be a positive integer, got ${capacity}`);
    this.maxBytes = options.maxBytes ?? Infinity;
    if (!(this.maxBytes > 0))
      throw new RangeError(`LRU maxBytes must be > 0, got ${this.maxBytes}`);
    if (options.maxBytes !== undefined && !options.sizeOf)
      throw new RangeError('LRU maxBytes needs sizeOf');
    if (options.name) memoryCaches.register(this);
  }

  get size(): number {
    return this.entries.size;
  }

  /** estimated bytes of the entries (0 without sizeOf) */
  get bytes(): number {
    return this.bytes_;
  }

  get evictions(): number {
    return this.evictions_;
  }

  has(key: Key): boolean {
    return this.entries.has(key);
  }

  /** Marks the entry as just used. */
  get(key: Key): Value | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Stores the entry; one larger than maxBytes on its own is not kept (counted as evicted). */
  set(key: Key, value: Value): void {
    this.delete(key);
    const bytes = this.options.sizeOf?.(value, key) ?? 0;
    if (bytes > this.maxBytes) {
      this.evictions_++; // it would push out everything else and still not fit
      return;
    }
    this.entries.set(key, { value, bytes });
    this.bytes_ += bytes;
    while (this.entries.size > this.capacity || this.bytes_ > this.maxBytes) this.evictOldest();
  }

  delete(key: Key): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.bytes_ -= entry.bytes;
  }

  shrink(fraction: number): void {
    const target = this.bytes_ * Math.max(0, fraction);
    const keep = Math.floor(this.entries.size * Math.max(0, fraction));
    while (
      this.entries.size > 0 &&
      (this.options.sizeOf ? this.bytes_ > target : this.entries.size > keep)
    )
      this.evictOldest();
  }

  figures(): CacheFigures {
    return {
      name: this.options.name ?? 'unnamed',
      entries: this.entries.size,
      bytes: this.bytes_,
      maxBytes: this.maxBytes,
      evictions: this.evictions_,
    };
  }

  private evictOldest(): void {
    const oldest = this.entries.keys().next();
    if (oldest.done) return;
    this.delete(oldest.value);
    this.evictions_++;
  }
}
