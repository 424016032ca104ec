import type { Endpoint } from '../discovery/types.js';
import type { Picker } from './picker.js';

/** Picks uniformly at random; `random` is injectable so tests can drive it. */
export class RandomPicker implements Picker {
  constructor(
    private readonly endpoints: readonly Endpoint[],
    private readonly random: () => number = Math.random,
  ) {
    if (endpoints.length === 0) throw new Error('RandomPicker needs at least one endpoint');
  }

  pick(): Endpoint {
    const index = Math.min(Math.floor(this.random() * this.endpoints.length), this.endpoints.length - 1);
    return this.endpoints[index] as Endpoint;
  }
}
