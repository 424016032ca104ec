/**
 * A clock and one-shot timers, injected wherever code waits (the xDS server's
 * coalescing and retries, the gateway's hedge delay) so tests move time by
 * hand instead of racing the machine.
 */
export interface Timers {
  now(): number;
  /** Calls `callback` once after `ms`; must not keep the process alive. */
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const REAL_TIMERS: Timers = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
