import type { DiscoveryFailure } from './discovery/types.js';

/** What a recent lookup learned about a name that is not watched. */
export type RememberedAnswer =
  | { readonly kind: 'missing' }
  | { readonly kind: 'failed'; readonly failure: DiscoveryFailure };

interface Entry {
  readonly answer: RememberedAnswer;
  readonly expiresAtMs: number;
  /** Which insertion this is, to tell it from an older one of the same name in `order`. */
  readonly insertion: number;
}

/**
 * Names a lookup found missing (or could not look up), answered from memory
 * for a short while so that asking again costs no API call. Bounded twice:
 * an entry expires after its time to live whatever is asked meanwhile (a
 * Service created since is found on the next lookup), and past `capacity` the
 * oldest entry goes first. Nothing here counts toward MAX_SERVICES.
 */
export class MissingServices {
  private readonly entries = new Map<string, Entry>();
  /**
   * The last `capacity` insertions, oldest at `next`, as a ring: finding the
   * oldest this way is O(1), where a Map's first key is slow to reach once
   * many entries before it were deleted (measured: 10 µs per insertion).
   */
  private readonly order: Array<{ id: string; insertion: number } | undefined>;
  private next = 0;
  private insertions = 0;

  constructor(private readonly capacity: number) {
    this.order = new Array(Math.max(0, capacity));
  }

  get size(): number {
    return this.entries.size;
  }

  /** The remembered answer for `id`, unless it has expired. */
  get(id: string, nowMs: number): RememberedAnswer | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs > nowMs) return entry.answer;
    this.entries.delete(id);
    return undefined;
  }

  remember(id: string, answer: RememberedAnswer, nowMs: number, ttlMs: number): void {
    this.entries.delete(id);
    if (ttlMs <= 0 || this.capacity <= 0) return;
    const oldest = this.order[this.next];
    // The slot's name goes unless it was remembered again since (then a newer slot holds it).
    if (oldest !== undefined && this.entries.get(oldest.id)?.insertion === oldest.insertion) this.entries.delete(oldest.id);
    const insertion = ++this.insertions;
    this.order[this.next] = { id, insertion };
    this.next = (this.next + 1) % this.capacity;
    this.entries.set(id, { answer, expiresAtMs: nowMs + ttlMs, insertion });
  }

  forget(id: string): void {
    this.entries.delete(id);
  }

  /** Drops every expired entry, so a flood's names do not stay in memory once stale. */
  sweep(nowMs: number): void {
    for (const [id, entry] of this.entries) {
      if (entry.expiresAtMs <= nowMs) this.entries.delete(id);
    }
  }

  clear(): void {
    this.entries.clear();
    this.order.fill(undefined);
  }
}
