import type { DiscoveryFailure } from './discovery/types.js';

/** What a recent lookup learned about a name that is not watched. */
export type RememberedAnswer =
  | { readonly kind: 'missing' }
  | { readonly kind: 'failed'; readonly failure: DiscoveryFailure };

interface Entry {
  readonly answer: RememberedAnswer;
  readonly expiresAtMs: number;
}

/**
 * Names a lookup found missing (or could not look up), answered from memory
 * for a short while so that asking again costs no API call. Bounded twice:
 * an entry expires after its time to live whatever is asked meanwhile (a
 * Service created since is found on the next lookup), and past `capacity` the
 * oldest entry goes first. Nothing here counts toward MAX_SERVICES.
 */
export class MissingServices {
  /** Insertion order is age order: the first entry is the oldest. */
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly capacity: number) {}

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
    this.entries.set(id, { answer, expiresAtMs: nowMs + ttlMs });
    while (this.entries.size > this.capacity) this.forgetOldest();
  }

  forget(id: string): void {
    this.entries.delete(id);
  }

  /** Drops expired entries from the old end; the rest go when asked for or pushed out. */
  sweep(nowMs: number): void {
    for (const [id, entry] of this.entries) {
      if (entry.expiresAtMs > nowMs) return;
      this.entries.delete(id);
    }
  }

  clear(): void {
    this.entries.clear();
  }

  private forgetOldest(): void {
    const oldest = this.entries.keys().next();
    if (!oldest.done) this.entries.delete(oldest.value);
  }
}
