import type { CallLedger } from './call-ledger.js';
import type { FinishedCall } from './call-outcome.js';
import type { ServiceLoad } from './service-load.js';

/** The call results a request carries, from a client that reports them. */
export interface CallReports {
  /** Calls made with earlier answers for this Service that have ended. */
  readonly finished: readonly FinishedCall[];
  /** The client will report the call it makes with this answer: count it as outstanding until then. */
  readonly reportsCall: boolean;
  /** Where this client's calls are held (its ResolveStream's, or unary Resolve's). */
  readonly ledger: CallLedger;
}

/** Applies every reported call to the Service's state, all at one moment. */
export function recordCalls(load: ServiceLoad, calls: CallReports): void {
  const nowMs = load.now();
  for (const call of calls.finished) load.record(call, calls.ledger, nowMs);
}
