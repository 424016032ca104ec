import assert from 'node:assert/strict';

import { ServicePickers } from '../../../src/lookaside/balancing/service-pickers.js';
import { StreamCallLedger } from '../../../src/lookaside/load/call-ledger.js';
import type { EndpointLoad } from '../../../src/lookaside/load/endpoint-load.js';
import { address, loadFixture, snapshotOf } from '../../support/service-load.js';

const UNAVAILABLE = 14;

describe('per-endpoint state of a watched Service (ServiceLoad)', () => {
  it('is not made while nothing needs it: round robin and random from clients that report nothing, sweeps', () => {
    const fixture = loadFixture();
    const pickers = new ServicePickers(snapshotOf(1, 2, 3), undefined, Math.random, fixture.load);
    const next = new ServicePickers(snapshotOf(1, 2, 3, 4), pickers);
    for (let i = 0; i < 8; i++) next.pickerFor('grpc', i % 2 === 0 ? 'round_robin' : 'random')?.pick();
    fixture.clock.nowMs += 10_000;
    fixture.load.sweep(fixture.clock.nowMs, 60_000);
    assert.equal(fixture.load.statesHeld, 0);
    assert.equal(fixture.load.ejected, 0);
  });

  it('is made from the latest snapshot when first needed, and the call that needed it counts', () => {
    const fixture = loadFixture();
    fixture.load.sync(snapshotOf(1, 2, 3));
    fixture.load.sync(snapshotOf(2, 3, 4));
    const ledger = new StreamCallLedger();
    ledger.handOut(fixture.load.endpoint(address(4)) as EndpointLoad);
    assert.equal(fixture.load.statesHeld, 3);
    assert.equal(fixture.load.endpoint(address(1)), undefined, 'gone before the state was made');
    assert.equal(fixture.load.openCalls, 1);
    fixture.load.record({ address: address(4), code: UNAVAILABLE, latencyMicros: 1_000 }, ledger, fixture.clock.nowMs);
    assert.equal(fixture.load.endpoint(address(4))?.failures, 1);
    assert.equal(fixture.load.openCalls, 0);
    fixture.load.sync(snapshotOf(4, 5));
    assert.deepEqual(
      fixture.load.all().map((load) => load.address),
      [address(4), address(5)],
      'once made, it follows every snapshot',
    );
    assert.equal(fixture.load.endpoint(address(4))?.failures, 1, 'and keeps what it knew of an endpoint that stayed');
  });

  it('is made for a report that comes before any call was handed out, and for least request', () => {
    const reported = loadFixture();
    reported.load.sync(snapshotOf(1, 2));
    reported.load.record({ address: address(2), code: UNAVAILABLE, latencyMicros: 1_000 }, new StreamCallLedger(), reported.clock.nowMs);
    assert.equal(reported.load.endpoint(address(2))?.failures, 1);
    const leastRequest = loadFixture();
    const pickers = new ServicePickers(snapshotOf(1, 2), undefined, Math.random, leastRequest.load);
    pickers.pickerFor('grpc', 'least_request')?.pick();
    assert.equal(leastRequest.load.statesHeld, 2);
  });
});
