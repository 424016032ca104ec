import assert from 'node:assert/strict';

import { RandomPicker } from '../../src/lookaside/balancing/random.js';
import { endpoint, seededRandom } from '../support/endpoints.js';

describe('RandomPicker', () => {
  it('maps the random number evenly onto the endpoints', () => {
    const endpoints = [endpoint(1), endpoint(2), endpoint(3), endpoint(4)];
    const values = [0, 0.2499, 0.25, 0.5, 0.75, 0.9999999];
    let next = 0;
    const picker = new RandomPicker(endpoints, () => values[next++] as number);
    assert.deepEqual(
      values.map(() => picker.pick().podName),
      ['pod-1', 'pod-1', 'pod-2', 'pod-3', 'pod-4', 'pod-4'],
    );
  });

  it('is uniform: each of 4 endpoints gets 25% ± 2% of 40 000 picks', () => {
    const picker = new RandomPicker([endpoint(1), endpoint(2), endpoint(3), endpoint(4)], seededRandom(42));
    const counts = new Map<string, number>();
    for (let i = 0; i < 40_000; i++) {
      const address = picker.pick().address;
      counts.set(address, (counts.get(address) ?? 0) + 1);
    }
    assert.equal(counts.size, 4);
    // 2% of 40 000 is 800, about 9 standard deviations: a failure means a real bias.
    for (const count of counts.values()) assert.ok(Math.abs(count - 10_000) < 800, `count ${count}`);
  });

  it('never goes out of range, even if the source returns 1', () => {
    const picker = new RandomPicker([endpoint(1), endpoint(2)], () => 1);
    assert.equal(picker.pick().podName, 'pod-2');
  });
});
