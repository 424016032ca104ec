import assert from 'node:assert/strict';

import { Backoff } from '../../src/common/backoff.js';

describe('Backoff', () => {
  it('doubles from the initial delay and holds at the cap', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1_000, jitter: 0 });
    assert.deepEqual(
      Array.from({ length: 7 }, () => backoff.next()),
      [100, 200, 400, 800, 1_000, 1_000, 1_000],
    );
  });

  it('starts again from the initial delay after reset', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1_000, jitter: 0 });
    backoff.next();
    backoff.next();
    backoff.reset();
    assert.equal(backoff.next(), 100);
  });

  it('spreads each delay by the jitter, never above the cap', () => {
    const low = new Backoff({ initialMs: 1_000, maxMs: 1_000, jitter: 0.2, random: () => 0 });
    const high = new Backoff({ initialMs: 1_000, maxMs: 1_000, jitter: 0.2, random: () => 0.999999 });
    assert.equal(low.next(), 800);
    assert.equal(high.next(), 1_000);
  });
});
