import type { Endpoint } from '../discovery/types.js';
import type { Picker } from './picker.js';

/** What least request reads of an endpoint: the calls open on it now. */
export interface Outstanding {
  readonly outstanding: number;
}

/**
 * Power of two choices: draws two different endpoints at random and hands out
 * the one with fewer calls outstanding (the first drawn on a tie). Counts are
 * read live at each pick, so every client's open calls weigh at once.
 */
export class LeastRequestPicker implements Picker {
  /**
   * @param endpoints non-empty
   * @param loads the outstanding calls of each endpoint, same order
   */
  constructor(
    private readonly endpoints: readonly Endpoint[],
    private readonly loads: readonly Outstanding[],
    private readonly random: () => number = Math.random,
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
    const chosen = (this.loads[second] as Outstanding).outstanding < (this.loads[first] as Outstanding).outstanding ? second : first;
    return this.endpoints[chosen] as Endpoint;
  }
}
