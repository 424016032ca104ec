/**
 * One long-lived channel per pod address, opened on first use and reused by
 * every later call to that address. Channels that nobody used for `idleMs`
 * (the lookaside stopped returning the address) are closed by a periodic
 * sweep; when the pool is full, the least recently used channel makes room.
 */

/** Opens and closes the real channels; a fake in tests. */
export interface ChannelFactory<C> {
  open(address: string): C;
  close(channel: C): void;
}

export type ChannelCloseReason = 'idle' | 'evicted' | 'shutdown';

/** Told about every channel opened and closed, for logs and metrics. */
export interface ChannelPoolEvents {
  opened(address: string, size: number): void;
  closed(address: string, reason: ChannelCloseReason, size: number): void;
}

export interface ChannelPoolOptions<C> {
  readonly factory: ChannelFactory<C>;
  readonly maxChannels: number;
  readonly idleMs: number;
  readonly events?: ChannelPoolEvents;
  /** Milliseconds, monotonic; injectable for tests. */
  readonly now?: () => number;
  /** Set false in tests that call `sweep()` themselves. */
  readonly sweepAutomatically?: boolean;
}

/** A channel as handed out; give it back with `release` when the call ends. */
export interface PoolEntry<C> {
  readonly address: string;
  readonly channel: C;
}

interface Slot<C> extends PoolEntry<C> {
  lastUsedMs: number;
  inFlight: number;
}

/** The sweep runs a few times per idle period, so a channel closes at most ~25% late. */
const SWEEPS_PER_IDLE_PERIOD = 4;
const MAX_SWEEP_INTERVAL_MS = 5_000;

export class ChannelPool<C> {
  private readonly slots = new Map<string, Slot<C>>();
  private readonly now: () => number;
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: ChannelPoolOptions<C>) {
    if (options.maxChannels < 1) throw new Error('maxChannels must be at least 1');
    this.now = options.now ?? (() => performance.now());
    if (options.sweepAutomatically !== false) {
      const intervalMs = Math.min(MAX_SWEEP_INTERVAL_MS, Math.max(1, Math.floor(options.idleMs / SWEEPS_PER_IDLE_PERIOD)));
      this.sweepTimer = setInterval(() => this.sweep(), intervalMs);
      this.sweepTimer.unref();
    }
  }

  get size(): number {
    return this.slots.size;
  }

  has(address: string): boolean {
    return this.slots.has(address);
  }

  /** The channel for `address`, opened now if there is none; counts one call in flight on it. */
  acquire(address: string): PoolEntry<C> {
    if (this.closed) throw new Error('the channel pool is closed');
    let slot = this.slots.get(address);
    if (slot === undefined) {
      if (this.slots.size >= this.options.maxChannels) this.evictOne();
      slot = { address, channel: this.options.factory.open(address), lastUsedMs: 0, inFlight: 0 };
      this.slots.set(address, slot);
      this.options.events?.opened(address, this.slots.size);
    }
    slot.lastUsedMs = this.now();
    slot.inFlight += 1;
    return slot;
  }

  /** Ends one call started with `acquire`. */
  release(entry: PoolEntry<C>): void {
    const slot = entry as Slot<C>;
    slot.inFlight -= 1;
    slot.lastUsedMs = this.now();
  }

  /** Closes every channel idle for `idleMs` with nothing in flight. */
  sweep(): void {
    const cutoffMs = this.now() - this.options.idleMs;
    for (const slot of [...this.slots.values()]) {
      if (slot.inFlight === 0 && slot.lastUsedMs <= cutoffMs) this.remove(slot, 'idle');
    }
  }

  /** Closes every channel; the pool cannot be used afterwards. */
  close(): void {
    this.closed = true;
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    for (const slot of [...this.slots.values()]) this.remove(slot, 'shutdown');
  }

  /**
   * Makes room for one more: the least recently used channel with nothing in
   * flight, else the least recently used of all (the bound holds; grpc-js lets
   * calls already under way on a closed channel finish).
   */
  private evictOne(): void {
    let victim: Slot<C> | undefined;
    let busyVictim: Slot<C> | undefined;
    for (const slot of this.slots.values()) {
      if (slot.inFlight === 0) {
        if (victim === undefined || slot.lastUsedMs < victim.lastUsedMs) victim = slot;
      } else if (busyVictim === undefined || slot.lastUsedMs < busyVictim.lastUsedMs) {
        busyVictim = slot;
      }
    }
    const chosen = victim ?? busyVictim;
    if (chosen !== undefined) this.remove(chosen, 'evicted');
  }

  private remove(slot: Slot<C>, reason: ChannelCloseReason): void {
    if (this.slots.get(slot.address) !== slot) return;
    this.slots.delete(slot.address);
    this.options.factory.close(slot.channel);
    this.options.events?.closed(slot.address, reason, this.slots.size);
  }
}
