import assert from 'node:assert/strict';

import { ServicePickers } from '../../../src/lookaside/balancing/service-pickers.js';
import { NO_LEDGER } from '../../../src/lookaside/load/call-ledger.js';
import { DEFAULT_OUTLIER_CONFIG, EndpointHealth } from '../../../src/lookaside/load/outlier.js';
import { address, loadFixture, snapshotOf, type LoadFixture } from '../../support/service-load.js';

const OK = 0;
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;
const INVALID_ARGUMENT = 3;
const CANCELLED = 1;

/** Reports `count` calls to endpoint n with `code`, all at the fixture's current time. */
function report(fixture: LoadFixture, n: number, code: number, count = 1): void {
  for (let i = 0; i < count; i += 1) fixture.load.record({ address: address(n), code, latencyMicros: 1_000 }, NO_LEDGER, fixture.clock.nowMs);
}

function ejected(fixture: LoadFixture): string[] {
  fixture.load.version(fixture.clock.nowMs);
  return fixture.load
    .all()
    .filter((endpoint) => endpoint.health.ejectedUntilMs !== undefined)
    .map((endpoint) => endpoint.address);
}

describe('outlier ejection', () => {
  describe('EndpointHealth', () => {
    const config = { ...DEFAULT_OUTLIER_CONFIG, consecutiveFailures: 3, failurePercentage: 0 };

    it('asks for ejection at the configured number of failures in a row, and a success starts the count over', () => {
      const health = new EndpointHealth(config, 0);
      assert.equal(health.record(true, 0), undefined);
      assert.equal(health.record(true, 0), undefined);
      assert.equal(health.record(false, 0), undefined);
      assert.equal(health.record(true, 0), undefined);
      assert.equal(health.record(true, 0), undefined);
      assert.equal(health.record(true, 0), 'consecutive-failures');
    });

    it('asks for ejection when the failed share over the window reaches the percentage, once enough calls were made', () => {
      const health = new EndpointHealth({ ...config, consecutiveFailures: 0, failurePercentage: 50, failureMinCalls: 10, windowMs: 10_000 }, 0);
      // 4 failures in 8 calls: 50%, but under 10 calls.
      for (let i = 0; i < 4; i += 1) {
        assert.equal(health.record(false, 0), undefined);
        assert.equal(health.record(true, 0), undefined);
      }
      assert.equal(health.record(false, 0), undefined, '4 of 9 failed');
      assert.equal(health.record(true, 0), 'failure-percentage', '5 of 10 failed');
    });

    it('forgets calls older than the window', () => {
      const health = new EndpointHealth({ ...config, consecutiveFailures: 0, failurePercentage: 50, failureMinCalls: 4, windowMs: 10_000 }, 0);
      health.record(true, 0);
      health.record(true, 0);
      health.record(true, 0);
      // A whole window later the three failures are gone: 1 failure of 1 call is under the 4 calls needed.
      assert.equal(health.record(true, 10_000), undefined);
      assert.deepEqual(health.window(10_000), { calls: 1, failures: 1 });
      // Half a window back is still counted.
      health.record(false, 15_000);
      assert.deepEqual(health.window(15_000), { calls: 2, failures: 1 });
    });

    it('makes each ejection in a row one base time longer, up to the maximum, and shrinks that again while the endpoint behaves', () => {
      const health = new EndpointHealth({ ...config, baseEjectionMs: 10_000, maxEjectionMs: 25_000 }, 0);
      assert.equal(health.eject(0), 10_000);
      health.returnToRotation();
      assert.equal(health.eject(10_000), 20_000, 'ejected again at once: twice the base');
      health.returnToRotation();
      assert.equal(health.eject(30_000), 25_000, 'three times the base, capped at the maximum');
      health.returnToRotation();
      // Back at 55 s (ejected at 30 s for 25 s), then 55 s in rotation: five base times, so the next ejection is the first again.
      assert.equal(health.eject(110_000), 10_000);
    });

    it('ejects a returning endpoint at its first failure, and a success ends that probation', () => {
      const health = new EndpointHealth(config, 0);
      health.eject(0);
      health.returnToRotation();
      assert.equal(health.onProbation, true);
      assert.equal(health.record(true, 40_000), 'failed-on-return');
      health.eject(40_000);
      health.returnToRotation();
      assert.equal(health.record(false, 200_000), undefined);
      assert.equal(health.onProbation, false);
      assert.equal(health.record(true, 200_000), undefined, 'back to needing 3 in a row');
    });

    it('ignores calls reported while ejected (they were in flight when it went)', () => {
      const health = new EndpointHealth(config, 0);
      health.eject(0);
      for (let i = 0; i < 10; i += 1) assert.equal(health.record(true, 1), undefined);
      assert.equal(health.consecutiveFailures, 0);
    });
  });

  describe('ServiceLoad', () => {
    it('ejects an endpoint after 5 UNAVAILABLE or DEADLINE_EXCEEDED in a row, and counts the ejection', () => {
      const fixture = loadFixture();
      fixture.load.sync(snapshotOf(1, 2, 3, 4));
      report(fixture, 2, UNAVAILABLE, 2);
      report(fixture, 2, DEADLINE_EXCEEDED, 2);
      assert.deepEqual(ejected(fixture), []);
      report(fixture, 2, UNAVAILABLE);
      assert.deepEqual(ejected(fixture), [address(2)]);
      assert.deepEqual(fixture.ejections, ['default/greet']);
      assert.equal(fixture.load.ejected, 1);
    });

    it('counts codes that are answers (INVALID_ARGUMENT, CANCELLED, OK) as successes', () => {
      const fixture = loadFixture();
      fixture.load.sync(snapshotOf(1, 2, 3));
      for (const code of [UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, INVALID_ARGUMENT, UNAVAILABLE, CANCELLED, OK]) report(fixture, 1, code);
      assert.deepEqual(ejected(fixture), []);
      assert.equal(fixture.load.endpoint(address(1))?.failures, 5);
    });

    it('ejects at most half of the endpoints, rounded up, and never all of them', () => {
      for (const [count, allowed] of [
        [1, 0],
        [2, 1],
        [3, 2],
        [4, 2],
        [5, 3],
      ] as const) {
        const fixture = loadFixture();
        const numbers = Array.from({ length: count }, (_, i) => i + 1);
        fixture.load.sync(snapshotOf(...numbers));
        for (const n of numbers) report(fixture, n, UNAVAILABLE, 5);
        assert.equal(ejected(fixture).length, allowed, `${count} endpoints`);
      }
    });

    it('brings an endpoint back when its time is up, and ejects it again at its first failure, for twice as long', () => {
      const fixture = loadFixture();
      fixture.load.sync(snapshotOf(1, 2, 3));
      report(fixture, 3, UNAVAILABLE, 5);
      const versionEjected = fixture.load.version(fixture.clock.nowMs);
      fixture.clock.nowMs += 29_999;
      assert.deepEqual(ejected(fixture), [address(3)]);
      fixture.clock.nowMs += 1;
      assert.deepEqual(ejected(fixture), [], 'back after the 30 s base ejection time');
      assert.notEqual(fixture.load.version(fixture.clock.nowMs), versionEjected, 'pickers see the change');
      report(fixture, 3, UNAVAILABLE);
      assert.deepEqual(ejected(fixture), [address(3)], 'one failure on return is enough');
      assert.equal(fixture.load.endpoint(address(3))?.health.ejectedUntilMs, fixture.clock.nowMs + 60_000);
    });

    it('takes ejected endpoints out of every policy, continues round robin past them, and puts them back when they return', () => {
      const fixture = loadFixture();
      const pickers = new ServicePickers(snapshotOf(1, 2, 3), undefined, () => 0.5, fixture.load);
      const rotation = (): string[] => Array.from({ length: 4 }, () => pickers.pickerFor('grpc', 'round_robin')?.pick().podName ?? '');
      assert.deepEqual(rotation(), ['pod-1', 'pod-2', 'pod-3', 'pod-1']);
      report(fixture, 3, UNAVAILABLE, 5);
      assert.deepEqual(rotation(), ['pod-2', 'pod-1', 'pod-2', 'pod-1']);
      for (const policy of ['random', 'least_request', 'weighted_round_robin'] as const) {
        for (let i = 0; i < 20; i += 1) assert.notEqual(pickers.pickerFor('grpc', policy)?.pick().podName, 'pod-3', policy);
      }
      fixture.clock.nowMs += 30_000;
      assert.deepEqual(rotation(), ['pod-2', 'pod-3', 'pod-1', 'pod-2'], 'pod-3 is back, the rotation going on after pod-1');
    });
  });
});
