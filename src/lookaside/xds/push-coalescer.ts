import type { Timers } from '../../common/timers.js';

/** A push waits for this much quiet after the last change… */
export const PUSH_QUIET_MS = 20;
/** …but never longer than this after the first change it carries. */
export const PUSH_MAX_DELAY_MS = 100;

export interface PushCoalescerOptions {
  readonly quietMs?: number;
  readonly maxDelayMs?: number;
  readonly timers: Timers;
  /** Receives every key marked since the last flush, once per window. */
  readonly flush: (keys: ReadonlySet<string>) => void;
}

/**
 * Gathers changes into pushes: a burst of EndpointSlice events (a rolling
 * update writes several slices within milliseconds, the file source reloads
 * several Services at once) becomes one push per stream instead of one per
 * event, at the cost of PUSH_QUIET_MS of delay, and never more than
 * PUSH_MAX_DELAY_MS however long the burst lasts.
 */
export class PushCoalescer {
  private pending = new Set<string>();
  private firstMarkMs = 0;
  private timer: unknown;
  private readonly quietMs: number;
  private readonly maxDelayMs: number;

  constructor(private readonly options: PushCoalescerOptions) {
    this.quietMs = options.quietMs ?? PUSH_QUIET_MS;
    this.maxDelayMs = options.maxDelayMs ?? PUSH_MAX_DELAY_MS;
  }

  mark(key: string): void {
    const timers = this.options.timers;
    const nowMs = timers.now();
    if (this.pending.size === 0) this.firstMarkMs = nowMs;
    this.pending.add(key);
    if (this.timer !== undefined) timers.clearTimeout(this.timer);
    const dueMs = Math.min(nowMs + this.quietMs, this.firstMarkMs + this.maxDelayMs);
    this.timer = timers.setTimeout(() => this.fire(), Math.max(0, dueMs - nowMs));
  }

  /** Drops whatever is pending, for shutdown. */
  cancel(): void {
    if (this.timer !== undefined) this.options.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = new Set();
  }

  private fire(): void {
    this.timer = undefined;
    const keys = this.pending;
    this.pending = new Set();
    if (keys.size > 0) this.options.flush(keys);
  }
}
