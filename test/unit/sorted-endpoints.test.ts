import assert from 'node:assert/strict';

import { byAddress, patchSorted } from '../../src/lookaside/discovery/sorted-endpoints.js';
import type { Endpoint } from '../../src/lookaside/discovery/types.js';
import { endpoint, seededRandom } from '../support/endpoints.js';

function addresses(list: readonly Endpoint[]): string[] {
  return list.map((e) => e.address);
}

describe('patchSorted', () => {
  it('takes out, puts in and replaces endpoints, keeping address order, as sorting again would', () => {
    const random = seededRandom(7);
    for (let round = 0; round < 500; round++) {
      const present = new Map<number, Endpoint>();
      for (let i = 0; i < 40; i++) if (random() < 0.5) present.set(i + 1, endpoint(i + 1));
      const previous = [...present.values()].sort(byAddress);
      const removed: string[] = [];
      const added: Endpoint[] = [];
      const expected = new Map(present);
      for (let n = 1; n <= 40; n++) {
        const roll = random();
        if (present.has(n) && roll < 0.2) {
          removed.push(endpoint(n).address);
          expected.delete(n);
        } else if (present.has(n) && roll < 0.3) {
          // Replaced: same address, new details.
          const replacement = { ...endpoint(n), podName: `moved-${n}` };
          removed.push(replacement.address);
          added.push(replacement);
          expected.set(n, replacement);
        } else if (!present.has(n) && roll < 0.3) {
          added.push(endpoint(n));
          expected.set(n, endpoint(n));
        }
      }
      removed.sort();
      added.sort(byAddress);
      const result = patchSorted(previous, removed, added);
      assert.deepEqual(result, [...expected.values()].sort(byAddress), `round ${round}`);
    }
  });

  it('leaves the list it was given untouched and keeps a neighbour when asked to remove an address that is not there', () => {
    const previous = Object.freeze([endpoint(1), endpoint(3)]);
    assert.deepEqual(addresses(patchSorted(previous, ['10.0.0.2:8080'], [])), ['10.0.0.1:8080', '10.0.0.3:8080']);
    assert.deepEqual(addresses(patchSorted(previous, [], [endpoint(2)])), ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080']);
    assert.deepEqual(addresses(previous), ['10.0.0.1:8080', '10.0.0.3:8080']);
  });
});
