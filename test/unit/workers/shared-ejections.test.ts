import assert from 'node:assert/strict';

import { NO_LEDGER } from '../../../src/lookaside/load/call-ledger.js';
import { address, loadFixture, snapshotOf, type LoadFixture } from '../../support/service-load.js';

const UNAVAILABLE = 14;

/** Two workers' state of one Service, joined as the primary joins them: what one ejects, the other adopts. */
function twoWorkers(endpoints: number[]): { a: LoadFixture; b: LoadFixture } {
  const a = loadFixture();
  const b = loadFixture();
  a.load.sync(snapshotOf(...endpoints));
  b.load.sync(snapshotOf(...endpoints));
  return { a, b };
}

function ejectedIn(fixture: LoadFixture): string[] {
  fixture.load.version(fixture.clock.nowMs);
  return fixture.load.all().filter((endpoint) => endpoint.health.ejectedUntilMs !== undefined).map((endpoint) => endpoint.address);
}

describe('LB_WORKERS: ejections shared between workers', function () {
  it('takes an endpoint another worker ejected out of this worker\'s rotation for as long, then back', function () {
    const { a, b } = twoWorkers([1, 2, 3]);
    for (let i = 0; i < 5; i += 1) a.load.record({ address: address(1), code: UNAVAILABLE, latencyMicros: 1_000 }, NO_LEDGER, a.clock.nowMs);
    const untilMs = a.load.endpoint(address(1))?.health.ejectedUntilMs;
    assert.ok(untilMs !== undefined, 'worker a ejected it');
    const versionBefore = b.load.version(b.clock.nowMs);
    b.load.adoptEjection(address(1), untilMs - a.clock.nowMs, b.clock.nowMs);
    assert.deepEqual(ejectedIn(b), [address(1)]);
    assert.notEqual(b.load.version(b.clock.nowMs), versionBefore, 'pickers are rebuilt');
    assert.deepEqual(b.load.available(snapshotOf(1, 2, 3).readyByPort.get('grpc') ?? []).map((endpoint) => endpoint.address), [address(2), address(3)]);
    assert.deepEqual(b.ejections, [], 'adopted, not reported again (no echo)');
    b.clock.nowMs = untilMs;
    assert.deepEqual(ejectedIn(b), []);
  });

  it('adopts no more ejections than maxEjectionPercent allows, and none for an endpoint it does not have', function () {
    const { b } = twoWorkers([1, 2]);
    b.load.adoptEjection(address(1), 30_000, b.clock.nowMs);
    b.load.adoptEjection(address(2), 30_000, b.clock.nowMs);
    b.load.adoptEjection(address(9), 30_000, b.clock.nowMs);
    assert.deepEqual(ejectedIn(b), [address(1)]);
  });
});
