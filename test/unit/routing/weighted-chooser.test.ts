import assert from 'node:assert/strict';

import { WeightedChooser } from '../../../src/lookaside/routing/weighted-chooser.js';

function count(chooser: WeightedChooser<string>, times: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < times; i++) {
    const choice = chooser.next();
    counts[choice] = (counts[choice] ?? 0) + 1;
  }
  return counts;
}

describe('WeightedChooser (smooth weighted round robin)', () => {
  it('splits 90/10 exactly: 900 and 100 of 1,000 picks', () => {
    const chooser = new WeightedChooser([
      { choice: 'v1', weight: 90 },
      { choice: 'v2', weight: 10 },
    ]);
    assert.deepEqual(count(chooser, 1_000), { v1: 900, v2: 100 });
  });

  it('gives each choice exactly its weight in every window of total weight, whatever the weights', () => {
    const weights = [7, 3, 1, 13];
    const chooser = new WeightedChooser(weights.map((weight, i) => ({ choice: `b${i}`, weight })));
    const total = weights.reduce((a, b) => a + b, 0);
    for (let window = 0; window < 5; window++) {
      assert.deepEqual(count(chooser, total), { b0: 7, b1: 3, b2: 1, b3: 13 });
    }
  });

  it('spreads the small share out instead of bunching it (90/10: one in every ten)', () => {
    const chooser = new WeightedChooser([
      { choice: 'v1', weight: 9 },
      { choice: 'v2', weight: 1 },
    ]);
    for (let window = 0; window < 20; window++) assert.deepEqual(count(chooser, 10), { v1: 9, v2: 1 });
  });

  it('sends everything to a single choice', () => {
    assert.deepEqual(count(new WeightedChooser([{ choice: 'only', weight: 5 }]), 12), { only: 12 });
  });
});
