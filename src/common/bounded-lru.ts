/**
 * A Map that holds at most `capacity` entries and forgets the least recently
 * used first. `get` and `set` make an entry the most recent; `peek` and `has`
 * read without touching the order, for callers whose reads must not keep an
 * entry alive. Iteration runs from the least to the most recent.
 *
 * The order is the Map's insertion order: an entry is made recent by
 * deleting and inserting it again. The least recent is found with one
 * iterator kept across calls, not a new `keys()` each time: a new iterator
 * walks over every slot deleted since the Map last compacted, which made
 * each eviction at 10,000 entries cost about 20 µs (measured), where the
 * kept one passes each slot once. Every entry before the iterator's place
 * was evicted or moved to the end, so its next key is the least recent.
 */
export class BoundedLru<K, V> {
  private readonly entries = new Map<K, V>();
  private oldest: Iterator<K> = this.entries.keys();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`a BoundedLru's capacity must be a whole number >= 0, not ${capacity}`);
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** The value for `key`, leaving its place in the order as it is. */
  peek(key: K): V | undefined {
    return this.entries.get(key);
  }

  /** The value for `key`, which becomes the most recently used. */
  get(key: K): V | undefined {
    if (!this.entries.has(key)) return undefined;
    const value = this.entries.get(key) as V;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  /** Stores `value` as the most recently used, forgetting the least recently used entries beyond the capacity. */
  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.capacity) {
      let next = this.oldest.next();
      // Not expected (a key beyond the capacity lies ahead of the iterator), but an
      // ended Map iterator stays ended whatever is added, so start a new one.
      if (next.done === true) {
        this.oldest = this.entries.keys();
        next = this.oldest.next();
      }
      if (next.done === true) return;
      this.entries.delete(next.value);
    }
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    // The kept iterator stays valid: a Map's iterators see the keys set after a clear.
    this.entries.clear();
  }

  /** Keys from the least to the most recently used. */
  keys(): IterableIterator<K> {
    return this.entries.keys();
  }

  /** Values from the least to the most recently used. */
  values(): IterableIterator<V> {
    return this.entries.values();
  }
}
