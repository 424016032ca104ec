import { REAL_TIMERS, type Timers } from '../../common/timers.js';
import type { GreetCallResult } from './greet-client.js';

/** Hedges that may be in flight at once however few requests are: a pod that hangs holds several requests of a small load. */
export const MIN_HEDGES_IN_FLIGHT = 3;
/**
 * Beyond MIN_HEDGES_IN_FLIGHT, at most this share of the requests in flight
 * is hedged at once, so when every pod slows down the pods get at most 1.5
 * times the calls, not twice (Envoy bounds retries by a share of active
 * requests in the same way).
 */
export const MAX_HEDGED_SHARE = 0.5;

const LATE = Symbol('late');
const SLOT = Symbol('slot');

/**
 * When a Greet should be sent again to another pod while the first is still
 * open (hedged, as gRPC's hedging policy does): when the first has not
 * answered within GREET_HEDGE_DELAY_MS, and the share of requests hedged at
 * once allows it; a request over that share waits for a hedge to end (or
 * for its own answer) and asks again. Counts the requests and hedges in
 * flight.
 */
export class Hedging {
  private requestsInFlight = 0;
  private hedgesInFlight = 0;
  /** Requests waiting for a hedge to end, woken all at once when one does. */
  private waiting: (() => void)[] = [];

  /**
   * @param delayMs a first attempt unanswered this long is hedged; 0 = never
   */
  constructor(
    private readonly delayMs: number,
    private readonly timers: Timers = REAL_TIMERS,
  ) {}

  requestStarted(): void {
    this.requestsInFlight += 1;
  }

  requestEnded(): void {
    this.requestsInFlight -= 1;
  }

  /**
   * The first attempt's result if it ends within the hedge delay; else
   * 'hedge' once a hedge may be sent (it counts until `hedgeEnded`), or the
   * result if it ends while too many requests are hedged to send one.
   */
  async resultOrHedge(result: Promise<GreetCallResult>): Promise<GreetCallResult | 'hedge'> {
    if (this.delayMs === 0) return result;
    let timer: unknown;
    const late = new Promise<typeof LATE>((resolve) => {
      timer = this.timers.setTimeout(() => resolve(LATE), this.delayMs);
    });
    const first = await Promise.race([result, late]);
    this.timers.clearTimeout(timer);
    if (first !== LATE) return first;
    for (;;) {
      if (this.hedgesInFlight < Math.max(MIN_HEDGES_IN_FLIGHT, Math.floor(this.requestsInFlight * MAX_HEDGED_SHARE))) {
        this.hedgesInFlight += 1;
        return 'hedge';
      }
      const next = await Promise.race([result, new Promise<typeof SLOT>((resolve) => this.waiting.push(() => resolve(SLOT)))]);
      if (next !== SLOT) return next;
    }
  }

  hedgeEnded(): void {
    this.hedgesInFlight -= 1;
    const waiting = this.waiting;
    this.waiting = [];
    for (const wake of waiting) wake();
  }

  /** Hedges in flight now (for tests and the debug log). */
  get hedges(): number {
    return this.hedgesInFlight;
  }
}
