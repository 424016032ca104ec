import type { Endpoint } from '../discovery/types.js';
import type { Picker } from './picker.js';

/**
 * Hands out endpoints in address order, one after another. While the list is
 * stable, N×k picks over N endpoints give each exactly k (Node runs one pick at a
 * time, so concurrent calls cannot share a turn).
 */
export class RoundRobinPicker implements Picker {
  private nextIndex: number;
  private lastAddress: string | undefined;

  /**
   * @param endpoints non-empty, sorted by address
   * @param continueAfter the last address the previous picker handed out: the
   *   rotation goes on from the next address in order, so a change of endpoints
   *   neither restarts the rotation nor gives anyone a second turn in a row.
   * @param startIndex where a rotation with nothing to continue starts (modulo
   *   the number of endpoints): each LB_WORKERS worker starts at its own slot.
   */
  constructor(
    private readonly endpoints: readonly Endpoint[],
    continueAfter?: string,
    startIndex = 0,
  ) {
    if (endpoints.length === 0) throw new Error('RoundRobinPicker needs at least one endpoint');
    this.nextIndex = continueAfter === undefined ? startIndex % endpoints.length : indexAfter(endpoints, continueAfter);
    this.lastAddress = continueAfter;
  }

  pick(): Endpoint {
    const endpoint = this.endpoints[this.nextIndex] as Endpoint;
    this.nextIndex = this.nextIndex + 1 === this.endpoints.length ? 0 : this.nextIndex + 1;
    this.lastAddress = endpoint.address;
    return endpoint;
  }

  /** The address handed out last (or inherited), for the picker that replaces this one. */
  get lastPicked(): string | undefined {
    return this.lastAddress;
  }
}

/** Index of the first address after `address` in sort order, wrapping to 0. */
function indexAfter(sorted: readonly Endpoint[], address: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as Endpoint).address <= address) low = middle + 1;
    else high = middle;
  }
  return low === sorted.length ? 0 : low;
}
