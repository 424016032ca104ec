/**
 * Outlier ejection for one endpoint, from the calls every client reports (as
 * Envoy's outlier detection and gRPC's outlier_detection policy do, but over
 * all clients at once). The endpoint only says when it should go; the
 * Service decides whether it may (at most a share of its endpoints at once).
 */

export interface OutlierConfig {
  /** Failures in a row that eject an endpoint; 0 turns this off. */
  readonly consecutiveFailures: number;
  /** Share of failed calls, in percent, over the window that ejects an endpoint; 0 turns this off. */
  readonly failurePercentage: number;
  /** Calls an endpoint must have had in the window before its failure percentage counts. */
  readonly failureMinCalls: number;
  /** The failure-percentage window (counted in two halves: it covers the last half to whole window). */
  readonly windowMs: number;
  /** The first ejection's length; the n-th ejection in a row lasts n times this. */
  readonly baseEjectionMs: number;
  /** No ejection lasts longer than this (or than baseEjectionMs, if that is longer). */
  readonly maxEjectionMs: number;
  /** At most this share of a Service's endpoints, rounded up, is ejected at once; never all of them. */
  readonly maxEjectionPercent: number;
  /**
   * An endpoint with STALL_MIN_OPEN_CALLS or more calls open and none answered
   * for this long, and for STALL_LATENCY_MULTIPLE times its average latency,
   * is ejected (a frozen or hung pod, found before its calls time out) unless
   * another endpoint of the Service is as silent; 0 turns this off.
   */
  readonly stalledCallsMs: number;
}

/** A stall ejects only an endpoint with this many calls open. */
export const STALL_MIN_OPEN_CALLS = 2;
/** A stall must also last this many times the endpoint's average latency, so slow Services are not ejected for being slow. */
export const STALL_LATENCY_MULTIPLE = 10;

export const DEFAULT_OUTLIER_CONFIG: OutlierConfig = {
  consecutiveFailures: 5,
  failurePercentage: 50,
  failureMinCalls: 20,
  windowMs: 10_000,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 50,
  stalledCallsMs: 500,
};

/** Why an endpoint should leave the rotation. */
export type EjectionReason = 'consecutive-failures' | 'failure-percentage' | 'failed-on-return' | 'stalled';

export interface CallCounts {
  readonly calls: number;
  readonly failures: number;
}

/** One endpoint's failure record and ejection state. */
export class EndpointHealth {
  consecutiveFailures = 0;
  /** While ejected: when it returns. */
  ejectedUntilMs: number | undefined;
  /** Back from an ejection and no call answered since: its next failure ejects it again at once. */
  onProbation = false;
  /** Ejections so far, for the debug view. */
  ejections = 0;
  /** The next ejection lasts this many base ejection times (minus one per base time spent back in rotation). */
  private multiplier = 0;
  private returnedAtMs: number | undefined;
  private halfStartMs: number;
  private calls = 0;
  private failures = 0;
  private previousCalls = 0;
  private previousFailures = 0;

  constructor(
    private readonly config: OutlierConfig,
    nowMs: number,
  ) {
    this.halfStartMs = nowMs;
  }

  /**
   * Records one finished call and says why the endpoint should be ejected now,
   * if it should. Calls reported while it is ejected (in flight when it went)
   * count for nothing.
   */
  record(failed: boolean, nowMs: number): EjectionReason | undefined {
    if (this.ejectedUntilMs !== undefined) return undefined;
    this.roll(nowMs);
    this.calls += 1;
    if (!failed) {
      this.consecutiveFailures = 0;
      this.onProbation = false;
      return undefined;
    }
    this.failures += 1;
    this.consecutiveFailures += 1;
    if (this.onProbation) return 'failed-on-return';
    const { consecutiveFailures, failurePercentage, failureMinCalls } = this.config;
    if (consecutiveFailures > 0 && this.consecutiveFailures >= consecutiveFailures) return 'consecutive-failures';
    if (failurePercentage > 0) {
      const calls = this.calls + this.previousCalls;
      const failures = this.failures + this.previousFailures;
      if (calls >= failureMinCalls && failures * 100 >= failurePercentage * calls) return 'failure-percentage';
    }
    return undefined;
  }

  /** Takes the endpoint out of the rotation; returns for how long. */
  eject(nowMs: number): number {
    const { baseEjectionMs, maxEjectionMs } = this.config;
    if (this.returnedAtMs !== undefined && baseEjectionMs > 0) {
      const baseTimesBack = Math.floor((nowMs - this.returnedAtMs) / baseEjectionMs);
      this.multiplier = Math.max(0, this.multiplier - baseTimesBack);
    }
    this.multiplier += 1;
    const durationMs = Math.min(baseEjectionMs * this.multiplier, Math.max(baseEjectionMs, maxEjectionMs));
    this.ejectUntil(nowMs + durationMs, nowMs);
    return durationMs;
  }

  /**
   * Out of the rotation until `untilMs`, its counts started over: the end of
   * its own ejection, or all of it when another LB_WORKERS worker ejected it
   * (how long its own next ejection lasts is still its own).
   */
  ejectUntil(untilMs: number, nowMs: number): void {
    this.ejectedUntilMs = untilMs;
    this.ejections += 1;
    this.onProbation = false;
    this.clearCounts(nowMs);
  }

  /** Puts it back, on probation, as of when its time was up. */
  returnToRotation(): void {
    const returnedAtMs = this.ejectedUntilMs;
    if (returnedAtMs === undefined) return;
    this.ejectedUntilMs = undefined;
    this.returnedAtMs = returnedAtMs;
    this.onProbation = true;
    this.clearCounts(returnedAtMs);
  }

  /** Calls and failures in the current window. */
  window(nowMs: number): CallCounts {
    this.roll(nowMs);
    return { calls: this.calls + this.previousCalls, failures: this.failures + this.previousFailures };
  }

  /** Starts a new half-window when the current one is over (the one before it is kept only if it just ended). */
  private roll(nowMs: number): void {
    const halfMs = this.config.windowMs / 2;
    const elapsedMs = nowMs - this.halfStartMs;
    if (elapsedMs < halfMs) return;
    const justEnded = elapsedMs < 2 * halfMs;
    this.previousCalls = justEnded ? this.calls : 0;
    this.previousFailures = justEnded ? this.failures : 0;
    this.calls = 0;
    this.failures = 0;
    this.halfStartMs = nowMs - (elapsedMs % halfMs);
  }

  private clearCounts(nowMs: number): void {
    this.consecutiveFailures = 0;
    this.calls = 0;
    this.failures = 0;
    this.previousCalls = 0;
    this.previousFailures = 0;
    this.halfStartMs = nowMs;
  }
}
