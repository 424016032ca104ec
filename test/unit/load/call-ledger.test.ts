import assert from 'node:assert/strict';

import { StreamCallLedger, UnaryCallLeases } from '../../../src/lookaside/load/call-ledger.js';
import { address, loadFixture, snapshotOf } from '../../support/service-load.js';

function endpoints() {
  const fixture = loadFixture();
  fixture.load.sync(snapshotOf(1, 2));
  const one = fixture.load.endpoint(address(1));
  const two = fixture.load.endpoint(address(2));
  if (one === undefined || two === undefined) throw new Error('not synced');
  return { one, two };
}

describe('call ledgers (outstanding = handed out − reported)', () => {
  it('a stream settles only the calls it was handed, and releases the rest when it ends', () => {
    const { one, two } = endpoints();
    const stream = new StreamCallLedger();
    const other = new StreamCallLedger();
    stream.handOut(one);
    stream.handOut(one);
    stream.handOut(two);
    other.handOut(two);
    assert.deepEqual([one.outstanding, two.outstanding], [2, 2]);
    stream.settle(one);
    other.settle(one); // never handed one: changes nothing
    assert.deepEqual([one.outstanding, two.outstanding], [1, 2]);
    stream.release();
    assert.deepEqual([one.outstanding, two.outstanding], [0, 1], 'the other stream’s call stays');
    stream.release();
    assert.deepEqual([one.outstanding, two.outstanding], [0, 1], 'released once');
  });

  it('unary leases expire a lease to a lease and a quarter after they were handed out', () => {
    const { one } = endpoints();
    const clock = { nowMs: 0 };
    const leases = new UnaryCallLeases(40_000, () => clock.nowMs);
    leases.handOut(one); // bucket [0, 10 s)
    clock.nowMs = 9_999;
    leases.handOut(one); // same bucket
    clock.nowMs = 10_000;
    leases.handOut(one); // next bucket
    leases.expire(49_999);
    assert.equal(one.outstanding, 3);
    leases.expire(50_000);
    assert.equal(one.outstanding, 1, 'the first bucket: every call in it at least 40 s old');
    leases.expire(60_000);
    assert.equal(one.outstanding, 0);
  });

  it('a unary report settles the oldest lease held on its endpoint, and none that is not held', () => {
    const { one, two } = endpoints();
    const clock = { nowMs: 0 };
    const leases = new UnaryCallLeases(40_000, () => clock.nowMs);
    leases.handOut(one);
    clock.nowMs = 20_000;
    leases.handOut(one);
    leases.settle(one);
    leases.settle(two);
    assert.deepEqual([one.outstanding, two.outstanding], [1, 0]);
    leases.expire(59_999);
    assert.equal(one.outstanding, 1, 'the newer lease is the one left');
    leases.expire(70_000);
    assert.equal(one.outstanding, 0);
  });
});
