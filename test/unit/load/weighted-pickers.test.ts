import assert from 'node:assert/strict';

import { ServicePickers } from '../../../src/lookaside/balancing/service-pickers.js';
import { address, loadFixture, snapshotOf, type LoadFixture } from '../../support/service-load.js';
import { seededRandom } from '../../support/endpoints.js';

const UNIMPLEMENTED = 12;

/** Picks `count` times with WEIGHTED_ROUND_ROBIN; calls per pod. */
function shares(pickers: ServicePickers, count: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < count; i += 1) {
    const pod = pickers.pickerFor('grpc', 'weighted_round_robin')?.pick().podName ?? 'none';
    counts[pod] = (counts[pod] ?? 0) + 1;
  }
  return counts;
}

/** Every endpoint of the fixture reports once, at the fixture's time. */
function reportAll(fixture: LoadFixture, reports: Record<number, [cpu: number, qps: number]>): void {
  for (const [n, [cpu, qps]] of Object.entries(reports)) fixture.orca.report(address(Number(n)), cpu, qps);
}

describe('WEIGHTED_ROUND_ROBIN over ORCA load reports', () => {
  it('opens no ORCA stream until a Service is resolved with it, then one per endpoint', () => {
    const fixture = loadFixture();
    const pickers = new ServicePickers(snapshotOf(1, 2, 3), undefined, seededRandom(1), fixture.load);
    pickers.pickerFor('grpc', 'round_robin')?.pick();
    pickers.pickerFor('grpc', 'least_request')?.pick();
    assert.deepEqual(fixture.orca.opened, []);
    pickers.pickerFor('grpc', 'weighted_round_robin')?.pick();
    assert.deepEqual(fixture.orca.opened, [address(1), address(2), address(3)]);
  });

  it('is plain round robin until two endpoints have weights past the blackout, then follows the weights', () => {
    const fixture = loadFixture({ weights: { blackoutMs: 10_000 } });
    const pickers = new ServicePickers(snapshotOf(1, 2, 3), undefined, seededRandom(1), fixture.load);
    assert.deepEqual(shares(pickers, 300), { 'pod-1': 100, 'pod-2': 100, 'pod-3': 100 });
    // qps / utilization: 900, 300, 300 (pod-1 does the same work for a third of the CPU).
    reportAll(fixture, { 1: [0.1, 90], 2: [0.3, 90], 3: [0.3, 90] });
    fixture.clock.nowMs += 9_999;
    reportAll(fixture, { 1: [0.1, 90], 2: [0.3, 90], 3: [0.3, 90] });
    assert.deepEqual(shares(pickers, 300), { 'pod-1': 100, 'pod-2': 100, 'pod-3': 100 }, 'still in blackout');
    // Past the blackout, read at the next update of the weights.
    fixture.clock.nowMs += 1_000;
    const weighted = shares(pickers, 500);
    assert.ok(Math.abs((weighted['pod-1'] ?? 0) - 300) <= 1, JSON.stringify(weighted));
    assert.ok(Math.abs((weighted['pod-2'] ?? 0) - 100) <= 1, JSON.stringify(weighted));
  });

  it('reads new weights once per update period, not at every pick', () => {
    const fixture = loadFixture({ weights: { blackoutMs: 0, updatePeriodMs: 1_000 } });
    const pickers = new ServicePickers(snapshotOf(1, 2), undefined, seededRandom(2), fixture.load);
    pickers.pickerFor('grpc', 'weighted_round_robin');
    reportAll(fixture, { 1: [0.5, 100], 2: [0.5, 100] });
    fixture.clock.nowMs += 1_000;
    assert.deepEqual(shares(pickers, 100), { 'pod-1': 50, 'pod-2': 50 });
    reportAll(fixture, { 1: [0.1, 100], 2: [0.9, 100] });
    fixture.clock.nowMs += 999;
    assert.deepEqual(shares(pickers, 100), { 'pod-1': 50, 'pod-2': 50 }, 'the scheduler of this period');
    fixture.clock.nowMs += 1;
    const after = shares(pickers, 100);
    assert.ok((after['pod-1'] ?? 0) >= 89, JSON.stringify(after));
  });

  it('balances an endpoint without ORCA (UNIMPLEMENTED) as the mean of the others', () => {
    const fixture = loadFixture({ weights: { blackoutMs: 0 } });
    const pickers = new ServicePickers(snapshotOf(1, 2, 3), undefined, seededRandom(3), fixture.load);
    pickers.pickerFor('grpc', 'weighted_round_robin');
    fixture.orca.streams.get(address(3))?.end(UNIMPLEMENTED, 'unknown service xds.service.orca.v3.OpenRcaService');
    // Weights 200 and 600; pod-3 gets their mean, 400.
    reportAll(fixture, { 1: [0.5, 100], 2: [0.5, 300] });
    fixture.clock.nowMs += 1_000;
    const counts = shares(pickers, 1_200);
    for (const [pod, expected] of [
      ['pod-1', 200],
      ['pod-2', 600],
      ['pod-3', 400],
    ] as const) {
      assert.ok(Math.abs((counts[pod] ?? 0) - expected) <= 1, JSON.stringify(counts));
    }
    assert.equal(fixture.load.orcaState(fixture.load.endpoint(address(3)) as never), 'unsupported');
  });

  it('follows endpoint changes: a stream to each new endpoint, none kept to those gone', () => {
    const fixture = loadFixture();
    const first = new ServicePickers(snapshotOf(1, 2), undefined, seededRandom(4), fixture.load);
    first.pickerFor('grpc', 'weighted_round_robin');
    const second = new ServicePickers(snapshotOf(2, 3), first, seededRandom(4));
    assert.equal(second.load, fixture.load, 'the state carries over to the next snapshot');
    assert.deepEqual(fixture.orca.opened, [address(1), address(2), address(3)]);
    assert.deepEqual(fixture.orca.cancelled, [address(1)]);
  });

  it('closes the streams after a period with no weighted Resolve, and when the Service goes', () => {
    const fixture = loadFixture();
    const pickers = new ServicePickers(snapshotOf(1, 2), undefined, seededRandom(5), fixture.load);
    pickers.pickerFor('grpc', 'weighted_round_robin');
    fixture.clock.nowMs += 59_999;
    fixture.load.sweep(fixture.clock.nowMs, 60_000);
    assert.deepEqual(fixture.orca.cancelled, []);
    fixture.clock.nowMs += 1;
    fixture.load.sweep(fixture.clock.nowMs, 60_000);
    assert.deepEqual(fixture.orca.cancelled, [address(1), address(2)]);
    pickers.pickerFor('grpc', 'weighted_round_robin');
    assert.equal(fixture.orca.streams.size, 2, 'reopened by the next weighted Resolve');
    fixture.load.close();
    assert.equal(fixture.orca.streams.size, 0);
  });

  it('opens at most MAX_ORCA_STREAMS; the endpoints past it have no weight of their own', () => {
    const fixture = loadFixture({ maxStreams: 2 });
    const pickers = new ServicePickers(snapshotOf(1, 2, 3), undefined, seededRandom(6), fixture.load);
    pickers.pickerFor('grpc', 'weighted_round_robin');
    assert.deepEqual(fixture.orca.opened, [address(1), address(2)]);
    assert.equal(fixture.load.orcaState(fixture.load.endpoint(address(3)) as never), 'over MAX_ORCA_STREAMS');
  });
});
