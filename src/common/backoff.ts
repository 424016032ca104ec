export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Each delay is spread by ±jitter (0.2 = ±20%) so many watchers do not retry in step. */
  readonly jitter?: number;
  readonly random?: () => number;
}

/**
 * Capped exponential backoff with jitter. It holds at the cap until `reset()`
 * (called after a success), rather than dropping back to the start on its own.
 */
export class Backoff {
  private nextBaseMs: number;

  constructor(private readonly options: BackoffOptions) {
    this.nextBaseMs = options.initialMs;
  }

  /** The delay before the next attempt; each call doubles the following one, up to the cap. */
  next(): number {
    const baseMs = this.nextBaseMs;
    this.nextBaseMs = Math.min(this.options.maxMs, baseMs * 2);
    const jitter = this.options.jitter ?? 0.2;
    const random = this.options.random ?? Math.random;
    const spread = 1 + jitter * (2 * random() - 1);
    return Math.max(0, Math.min(this.options.maxMs, Math.round(baseMs * spread)));
  }

  reset(): void {
    this.nextBaseMs = this.options.initialMs;
  }
}
