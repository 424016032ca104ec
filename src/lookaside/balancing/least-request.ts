import type { Endpoint } from '../discovery/types.js';
import type { Picker } from './picker.js';

/** What least request reads of an endpoint at each pick. */
export interface RequestLoad {
  /** Calls open on it now, over every client. */
  readonly outstanding: number;
  /** What a call sent to it now should take; undefined when nothing is known yet. */
  expectedLatencyMicros(nowMs: number): number | undefined;
}

/**
 * Power of two choices: draws two different endpoints at random and hands out
 * the one where one more call should end soonest: its expected latency times
 * the square root of (outstanding + 1). An endpoint that answers its calls
 * one after another would take (outstanding + 1) × latency (Linkerd's P2C
 * with peak EWMA weighs that), one that answers them all at once just its
 * latency; pods are in between, and the latency clients measure already
 * includes whatever queueing the open calls cause. So a pod five times
 * slower loses until the other has 25 calls open, not 5, and a slow pod gets
 * next to nothing while the others have room. Equal latencies compare by
 * count as before; a frozen pod, whose open calls stop being answered, looks
 * slower at once. When either latency is unknown the two are compared by
 * count alone. The first drawn keeps a tie. Counts and latencies are read
 * live at each pick, so every client's open calls weigh at once.
 */
export class LeastRequestPicker implements Picker {
  /**
   * @param endpoints non-empty
   * @param loads the load of each endpoint, same order
   */
  constructor(
    private readonly endpoints: readonly Endpoint[],
    private readonly loads: readonly RequestLoad[],
    private readonly random: () => number = Math.random,
    private readonly now: () => number = Date.now,
  ) {
    if (endpoints.length === 0) throw new Error('LeastRequestPicker needs at least one endpoint');
    if (loads.length !== endpoints.length) throw new Error('LeastRequestPicker needs one load per endpoint');
  }

  pick(): Endpoint {
    const count = this.endpoints.length;
    if (count === 1) return this.endpoints[0] as Endpoint;
    const first = Math.min(Math.floor(this.random() * count), count - 1);
    // The second from the other count - 1, so the two always differ.
    let second = Math.min(Math.floor(this.random() * (count - 1)), count - 2);
    if (second >= first) second += 1;
    const chosen = lighter(this.loads[first] as RequestLoad, this.loads[second] as RequestLoad, this.now()) ? first : second;
    return this.endpoints[chosen] as Endpoint;
  }
}

/** Whether `first` should take the call rather than `second` (ties included). */
function lighter(first: RequestLoad, second: RequestLoad, nowMs: number): boolean {
  const firstLatency = first.expectedLatencyMicros(nowMs);
  const secondLatency = second.expectedLatencyMicros(nowMs);
  if (firstLatency === undefined || secondLatency === undefined) return first.outstanding <= second.outstanding;
  // latency × √(outstanding + 1), compared squared.
  return (first.outstanding + 1) * firstLatency * firstLatency <= (second.outstanding + 1) * secondLatency * secondLatency;
}
