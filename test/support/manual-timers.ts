import type { Timers } from '../../src/common/timers.js';

interface Pending {
  readonly dueMs: number;
  readonly order: number;
  readonly callback: () => void;
}

/**
 * Timers that fire only when the test moves time with `advance`, in due
 * order; `now()` is the same clock (share it with WatchedServices' `now` so
 * negative-cache expiry and retries agree).
 */
export class ManualTimers implements Timers {
  nowMs = 1_000_000;
  private readonly pending = new Set<Pending>();
  private created = 0;

  now(): number {
    return this.nowMs;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const timer = { dueMs: this.nowMs + Math.max(0, ms), order: this.created++, callback };
    this.pending.add(timer);
    return timer;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as Pending);
  }

  /** Timers waiting to fire. */
  get size(): number {
    return this.pending.size;
  }

  /** Moves the clock forward by `ms`, firing each timer that comes due on the way (timers they set included). */
  advance(ms: number): void {
    const endMs = this.nowMs + ms;
    for (;;) {
      const next = [...this.pending].filter((timer) => timer.dueMs <= endMs).sort((a, b) => a.dueMs - b.dueMs || a.order - b.order)[0];
      if (next === undefined) break;
      this.pending.delete(next);
      this.nowMs = Math.max(this.nowMs, next.dueMs);
      next.callback();
    }
    this.nowMs = endMs;
  }
}
