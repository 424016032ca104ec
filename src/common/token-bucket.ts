export interface TokenBucketOptions {
  /** Tokens added per second, continuously. */
  readonly ratePerSecond: number;
  /** The most tokens held at once: how large a burst may be after a quiet spell. */
  readonly burst: number;
  /** Milliseconds on any monotonic scale; injectable so tests drive time. */
  readonly now: () => number;
}

/**
 * A rate limit that allows bursts: `tryTake()` succeeds while tokens remain,
 * and tokens come back at `ratePerSecond` up to `burst`. It never waits and
 * holds no timer, so a caller over the limit answers at once.
 */
export class TokenBucket {
  /**
   * Tokens held, times 1000: with whole milliseconds and a whole rate the
   * refill is exact, so no rounding drift grants a token too few or too many.
   */
  private milliTokens: number;
  private refilledAtMs: number;

  constructor(private readonly options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) {
      throw new RangeError(`a token bucket needs a positive rate and a burst of at least 1, got ${options.ratePerSecond}/s, ${options.burst}`);
    }
    this.milliTokens = options.burst * 1000;
    this.refilledAtMs = options.now();
  }

  /** Takes one token if there is one; false means over the limit for now. */
  tryTake(): boolean {
    this.refill();
    if (this.milliTokens < 1000) return false;
    this.milliTokens -= 1000;
    return true;
  }

  private refill(): void {
    const nowMs = this.options.now();
    // A clock that steps back adds nothing rather than taking tokens away.
    const elapsedMs = Math.max(0, nowMs - this.refilledAtMs);
    this.refilledAtMs = nowMs;
    this.milliTokens = Math.min(this.options.burst * 1000, this.milliTokens + elapsedMs * this.options.ratePerSecond);
  }
}
