/**
 * The addresses the lookaside returned recently, and a local round robin over
 * them for when the lookaside cannot be asked. An address is usable for
 * `maxAgeMs` after the lookaside last returned it, so an outage of the
 * lookaside does not keep traffic on pods that left long ago.
 */

export interface RecentAddressesOptions {
  readonly maxAgeMs: number;
  /** At most this many are remembered; the one seen least recently goes first. */
  readonly maxAddresses: number;
  /** Milliseconds, monotonic; injectable for tests. */
  readonly now?: () => number;
}

export class RecentAddresses {
  private readonly lastSeenMs = new Map<string, number>();
  /** The rotation order; rebuilt only when the set changes, not on every `seen`. */
  private rotation: string[] = [];
  private rotationStale = false;
  private cursor = 0;
  private readonly now: () => number;

  constructor(private readonly options: RecentAddressesOptions) {
    if (options.maxAddresses < 1) throw new Error('maxAddresses must be at least 1');
    this.now = options.now ?? (() => performance.now());
  }

  /** Records that the lookaside just returned `address`. Runs on every request: keep it cheap. */
  seen(address: string): void {
    const known = this.lastSeenMs.has(address);
    this.lastSeenMs.set(address, this.now());
    if (known) return;
    this.rotationStale = true;
    if (this.lastSeenMs.size > this.options.maxAddresses) this.forgetOldest();
  }

  /** Drops an address that failed (its pod is gone), until the lookaside returns it again. */
  forget(address: string): void {
    if (this.lastSeenMs.delete(address)) this.rotationStale = true;
  }

  /**
   * The next usable address in rotation, skipping `exclude` (the one that just
   * failed); undefined when none is left. Expired addresses are dropped here.
   */
  next(exclude?: string): string | undefined {
    this.dropExpired();
    const rotation = this.currentRotation();
    for (let step = 0; step < rotation.length; step += 1) {
      const address = rotation[(this.cursor + step) % rotation.length] as string;
      if (address === exclude) continue;
      this.cursor = (this.cursor + step + 1) % rotation.length;
      return address;
    }
    return undefined;
  }

  /** How many addresses are usable now. */
  usableCount(): number {
    this.dropExpired();
    return this.lastSeenMs.size;
  }

  private dropExpired(): void {
    const cutoffMs = this.now() - this.options.maxAgeMs;
    for (const [address, seenMs] of this.lastSeenMs) {
      if (seenMs < cutoffMs) {
        this.lastSeenMs.delete(address);
        this.rotationStale = true;
      }
    }
  }

  private forgetOldest(): void {
    let oldest: string | undefined;
    let oldestMs = Number.POSITIVE_INFINITY;
    for (const [address, seenMs] of this.lastSeenMs) {
      if (seenMs < oldestMs) {
        oldest = address;
        oldestMs = seenMs;
      }
    }
    if (oldest !== undefined) this.lastSeenMs.delete(oldest);
  }

  /** Sorted, so the rotation order does not depend on the order addresses arrived in. */
  private currentRotation(): readonly string[] {
    if (this.rotationStale) {
      const previous = this.rotation[this.cursor];
      this.rotation = [...this.lastSeenMs.keys()].sort();
      // Carry on from where the rotation stood rather than restarting at the first address.
      const resumeAt = previous === undefined ? 0 : this.rotation.findIndex((address) => address >= previous);
      this.cursor = resumeAt < 0 ? 0 : resumeAt;
      this.rotationStale = false;
    }
    return this.rotation;
  }
}
