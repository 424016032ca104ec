import assert from 'node:assert/strict';

import { TokenBucket } from '../../src/common/token-bucket.js';

describe('TokenBucket', () => {
  function bucket(ratePerSecond: number, burst: number): { bucket: TokenBucket; clock: { nowMs: number } } {
    const clock = { nowMs: 50_000 };
    return { bucket: new TokenBucket({ ratePerSecond, burst, now: () => clock.nowMs }), clock };
  }

  function takeAll(target: TokenBucket): number {
    let taken = 0;
    while (target.tryTake()) taken++;
    return taken;
  }

  it('allows a full burst at once, then nothing until time passes', () => {
    const { bucket: target } = bucket(10, 20);
    assert.equal(takeAll(target), 20);
    assert.equal(target.tryTake(), false);
  });

  it('refills at its rate, never beyond the burst', () => {
    const { bucket: target, clock } = bucket(10, 20);
    takeAll(target);
    clock.nowMs += 99;
    assert.equal(target.tryTake(), false, 'less than a token after 99 ms at 10/s');
    clock.nowMs += 1;
    assert.equal(takeAll(target), 1);
    clock.nowMs += 1_000;
    assert.equal(takeAll(target), 10);
    clock.nowMs += 3_600_000;
    assert.equal(takeAll(target), 20, 'an hour of quiet still allows only one burst');
  });

  it('bounds what an endless stream of requests gets to the rate', () => {
    const { bucket: target, clock } = bucket(5, 10);
    let granted = 0;
    for (let ms = 0; ms < 10_000; ms += 1) {
      clock.nowMs += 1;
      for (let attempt = 0; attempt < 3; attempt++) if (target.tryTake()) granted++;
    }
    // The burst, plus the rate over 10 s (less the first millisecond's, which found the bucket full).
    assert.equal(granted, 10 + 5 * 10 - 1);
  });

  it('adds nothing when the clock steps back', () => {
    const { bucket: target, clock } = bucket(10, 1);
    takeAll(target);
    clock.nowMs -= 5_000;
    assert.equal(target.tryTake(), false);
    clock.nowMs += 100;
    assert.equal(target.tryTake(), true);
  });

  it('refuses a rate or burst that would never grant anything', () => {
    assert.throws(() => bucket(0, 10), RangeError);
    assert.throws(() => bucket(10, 0.5), RangeError);
  });
});
