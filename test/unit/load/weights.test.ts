import assert from 'node:assert/strict';

import { WeightedRoundRobinPicker } from '../../../src/lookaside/balancing/weighted-round-robin.js';
import { DEFAULT_WEIGHT_CONFIG, EndpointWeight, reportedWeight, schedulerWeights } from '../../../src/lookaside/load/weights.js';
import { endpoint, seededRandom } from '../../support/endpoints.js';

const report = (cpuUtilization: number, qps: number, eps = 0, applicationUtilization = 0) => ({ cpuUtilization, applicationUtilization, qps, eps });

describe('weights from ORCA load reports (gRFC A58)', () => {
  const near = (actual: number, expected: number): void => assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} is not ${expected}`);

  it('is qps / (utilization + eps/qps × penalty)', () => {
    near(reportedWeight(report(0.5, 100), 1), 200);
    // 10 errors a second of 100 with penalty 1 weigh as 0.1 more utilization.
    near(reportedWeight(report(0.4, 100, 10), 1), 200);
    near(reportedWeight(report(0.4, 100, 10), 2), 100 / 0.6);
    near(reportedWeight(report(0.4, 100, 10), 0), 250);
  });

  it('uses application utilization when reported, CPU utilization otherwise', () => {
    assert.equal(reportedWeight(report(0.9, 100, 0, 0.25), 1), 400);
    assert.equal(reportedWeight(report(0.25, 100, 0, 0), 1), 400);
  });

  it('has no weight while qps or utilization is 0', () => {
    assert.equal(reportedWeight(report(0, 100), 1), 0);
    assert.equal(reportedWeight(report(0.5, 0), 1), 0);
  });

  describe('EndpointWeight', () => {
    const config = { ...DEFAULT_WEIGHT_CONFIG, blackoutMs: 10_000, expirationMs: 60_000 };

    it('is not used until the endpoint has reported for the blackout period', () => {
      const weight = new EndpointWeight(config);
      assert.equal(weight.current(0), 0, 'no report yet');
      weight.update(report(0.5, 100), 0);
      weight.update(report(0.5, 100), 9_999);
      assert.equal(weight.current(9_999), 0);
      assert.equal(weight.current(10_000), 200);
    });

    it('keeps the last weight through reports without one (qps 0), until it expires', () => {
      const weight = new EndpointWeight({ ...config, blackoutMs: 0 });
      weight.update(report(0.5, 100), 0);
      weight.update(report(0.1, 0), 1_000);
      assert.equal(weight.current(59_999), 200);
      assert.equal(weight.current(60_000), 0, 'no weight reported for the expiration period');
    });

    it('starts the blackout over after expiry and after the stream was lost', () => {
      const weight = new EndpointWeight(config);
      weight.update(report(0.5, 100), 0);
      assert.equal(weight.current(70_000), 0, 'expired');
      weight.update(report(0.5, 50), 70_000);
      assert.equal(weight.current(79_999), 0, 'in blackout again');
      assert.equal(weight.current(80_000), 100);
      weight.restart();
      weight.update(report(0.5, 50), 81_000);
      assert.equal(weight.current(90_999), 0, 'stream lost: in blackout again');
      assert.equal(weight.current(91_000), 100);
    });
  });

  describe('schedulerWeights', () => {
    it('gives endpoints without a weight the mean of the others', () => {
      assert.deepEqual(schedulerWeights([100, 0, 300]), [100, 200, 300]);
    });

    it('means plain round robin while fewer than two endpoints have a weight', () => {
      assert.equal(schedulerWeights([0, 0, 0]), undefined);
      assert.equal(schedulerWeights([0, 500, 0]), undefined);
    });

    it('caps a weight at ten times the mean (which binds only with more than ten endpoints)', () => {
      const weights = [...Array.from({ length: 19 }, () => 1), 1000];
      const scheduled = schedulerWeights(weights);
      assert.deepEqual(scheduled?.slice(0, 19), weights.slice(0, 19));
      assert.equal(scheduled?.[19], (1019 / 20) * 10);
    });
  });

  describe('WeightedRoundRobinPicker', () => {
    it('gives each endpoint its weight’s share, to within one pick', () => {
      const picker = new WeightedRoundRobinPicker([endpoint(1), endpoint(2), endpoint(3)], [1, 2, 7], seededRandom(3));
      const counts = new Map<string, number>();
      for (let i = 0; i < 1_000; i += 1) {
        const pod = picker.pick().podName;
        counts.set(pod, (counts.get(pod) ?? 0) + 1);
      }
      for (const [pod, expected] of [
        ['pod-1', 100],
        ['pod-2', 200],
        ['pod-3', 700],
      ] as const) {
        assert.ok(Math.abs((counts.get(pod) ?? 0) - expected) <= 1, `${pod}: ${counts.get(pod)} of 1000, expected ${expected}`);
      }
    });

    it('spreads an endpoint’s picks out instead of sending them in a burst', () => {
      const picker = new WeightedRoundRobinPicker([endpoint(1), endpoint(2)], [1, 1], () => 0);
      const order = Array.from({ length: 6 }, () => picker.pick().podName);
      assert.deepEqual(order, ['pod-1', 'pod-2', 'pod-1', 'pod-2', 'pod-1', 'pod-2']);
    });

    it('refuses weights that are not positive, one per endpoint', () => {
      assert.throws(() => new WeightedRoundRobinPicker([endpoint(1)], [0]), /positive weight/);
      assert.throws(() => new WeightedRoundRobinPicker([endpoint(1), endpoint(2)], [1]), /one positive weight per endpoint/);
    });
  });
});
