import assert from 'node:assert/strict';

import { RecentAddresses } from '../../../src/greet/gateway/fallback.js';

function makeRecent(maxAgeMs = 10_000, maxAddresses = 10) {
  let nowMs = 0;
  const recent = new RecentAddresses({ maxAgeMs, maxAddresses, now: () => nowMs });
  return {
    recent,
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

function take(recent: RecentAddresses, count: number, exclude?: string): Array<string | undefined> {
  return Array.from({ length: count }, () => recent.next(exclude));
}

describe('RecentAddresses (the degraded fallback)', () => {
  it('has nothing to offer before the lookaside returned anything', () => {
    const { recent } = makeRecent();
    assert.equal(recent.next(), undefined);
    assert.equal(recent.usableCount(), 0);
  });

  it('rotates over every address seen, each once per turn', () => {
    const { recent } = makeRecent();
    for (const address of ['10.0.0.2:1', '10.0.0.1:1', '10.0.0.3:1']) recent.seen(address);
    const picks = take(recent, 9);
    assert.deepEqual(picks.slice(0, 3), ['10.0.0.1:1', '10.0.0.2:1', '10.0.0.3:1']);
    assert.deepEqual(picks.slice(3, 6), picks.slice(0, 3));
    assert.deepEqual(picks.slice(6, 9), picks.slice(0, 3));
  });

  it('seeing an address again does not add it twice', () => {
    const { recent } = makeRecent();
    recent.seen('10.0.0.1:1');
    recent.seen('10.0.0.1:1');
    recent.seen('10.0.0.2:1');
    assert.equal(recent.usableCount(), 2);
  });

  it('drops addresses not seen within maxAgeMs', () => {
    const { recent, advance } = makeRecent(1_000);
    recent.seen('10.0.0.1:1');
    advance(600);
    recent.seen('10.0.0.2:1');
    advance(500);
    assert.deepEqual(take(recent, 3), ['10.0.0.2:1', '10.0.0.2:1', '10.0.0.2:1']);
    advance(600);
    assert.equal(recent.next(), undefined);
  });

  it('a fresh sighting renews an address', () => {
    const { recent, advance } = makeRecent(1_000);
    recent.seen('10.0.0.1:1');
    advance(900);
    recent.seen('10.0.0.1:1');
    advance(900);
    assert.equal(recent.next(), '10.0.0.1:1');
  });

  it('skips the excluded address (the one that just failed)', () => {
    const { recent } = makeRecent();
    recent.seen('10.0.0.1:1');
    recent.seen('10.0.0.2:1');
    assert.deepEqual(take(recent, 3, '10.0.0.1:1'), ['10.0.0.2:1', '10.0.0.2:1', '10.0.0.2:1']);
    assert.equal(makeRecentWith(['10.0.0.1:1']).next('10.0.0.1:1'), undefined);
  });

  it('forgets an address that failed until it is seen again', () => {
    const { recent } = makeRecent();
    recent.seen('10.0.0.1:1');
    recent.seen('10.0.0.2:1');
    recent.forget('10.0.0.1:1');
    assert.deepEqual(take(recent, 2), ['10.0.0.2:1', '10.0.0.2:1']);
    recent.seen('10.0.0.1:1');
    assert.deepEqual(new Set(take(recent, 2)), new Set(['10.0.0.1:1', '10.0.0.2:1']));
  });

  it('keeps the rotation going when the set changes instead of restarting it', () => {
    const { recent } = makeRecent();
    for (const address of ['10.0.0.1:1', '10.0.0.2:1', '10.0.0.3:1']) recent.seen(address);
    assert.equal(recent.next(), '10.0.0.1:1');
    recent.seen('10.0.0.4:1');
    assert.deepEqual(take(recent, 3), ['10.0.0.2:1', '10.0.0.3:1', '10.0.0.4:1']);
  });

  it('remembers at most maxAddresses, dropping the one seen least recently', () => {
    const { recent, advance } = makeRecent(10_000, 2);
    recent.seen('10.0.0.1:1');
    advance(1);
    recent.seen('10.0.0.2:1');
    advance(1);
    recent.seen('10.0.0.1:1');
    advance(1);
    recent.seen('10.0.0.3:1');
    assert.equal(recent.usableCount(), 2);
    assert.deepEqual(new Set(take(recent, 2)), new Set(['10.0.0.1:1', '10.0.0.3:1']));
  });
});

function makeRecentWith(addresses: string[]): RecentAddresses {
  const recent = new RecentAddresses({ maxAgeMs: 10_000, maxAddresses: 10 });
  for (const address of addresses) recent.seen(address);
  return recent;
}
