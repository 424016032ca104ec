import assert from 'node:assert/strict';

import { LeastRequestPicker, type RequestLoad } from '../../../src/lookaside/balancing/least-request.js';
import { endpoint, seededRandom } from '../../support/endpoints.js';

/** An endpoint with `outstanding` calls open and no latency known: compared by count alone. */
function calls(outstanding: number): RequestLoad & { outstanding: number } {
  return { outstanding, expectedLatencyMicros: () => undefined };
}

/** An endpoint with `outstanding` calls open that should take `latencyMs` each. */
function timed(outstanding: number, latencyMs: number): RequestLoad {
  return { outstanding, expectedLatencyMicros: () => latencyMs * 1000 };
}

/** A random source that returns the given values in turn. */
function scripted(...values: number[]): () => number {
  let next = 0;
  return () => values[next++ % values.length] as number;
}

describe('LeastRequestPicker (power of two choices)', () => {
  const endpoints = [endpoint(1), endpoint(2), endpoint(3)];

  it('of the two endpoints drawn, hands out the one with fewer calls outstanding', () => {
    const loads: RequestLoad[] = [calls(5), calls(1), calls(9)];
    // First draw 0.0 → index 0; second draw 0.0 of the other two → index 1.
    assert.equal(new LeastRequestPicker(endpoints, loads, scripted(0, 0)).pick().podName, 'pod-2');
    // 0 then 0.99 → indexes 0 and 2: 5 < 9.
    assert.equal(new LeastRequestPicker(endpoints, loads, scripted(0, 0.99)).pick().podName, 'pod-1');
    // 0.99 then 0 → indexes 2 and 0.
    assert.equal(new LeastRequestPicker(endpoints, loads, scripted(0.99, 0)).pick().podName, 'pod-1');
  });

  it('keeps the first drawn on a tie', () => {
    const loads: RequestLoad[] = [calls(2), calls(2), calls(2)];
    assert.equal(new LeastRequestPicker(endpoints, loads, scripted(0.5, 0)).pick().podName, 'pod-2');
    assert.equal(new LeastRequestPicker(endpoints, loads, scripted(0.9, 0.9)).pick().podName, 'pod-3');
  });

  it('never compares an endpoint with itself, whatever the random source returns', () => {
    // The most loaded endpoint can only win against itself: it must never be picked.
    const loads: RequestLoad[] = [calls(0), calls(0), calls(100)];
    for (const first of [0, 0.34, 0.67, 0.999999]) {
      for (const second of [0, 0.5, 0.999999]) {
        const picked = new LeastRequestPicker(endpoints, loads, scripted(first, second)).pick().podName;
        assert.notEqual(picked, 'pod-3', `draws ${first}, ${second}`);
      }
    }
  });

  it('reads the counts live at each pick: a count that grows sends calls elsewhere', () => {
    const loads = [calls(0), calls(0)];
    const picker = new LeastRequestPicker([endpoint(1), endpoint(2)], loads, seededRandom(7));
    const picked: string[] = [];
    for (let i = 0; i < 100; i += 1) {
      const chosen = picker.pick();
      picked.push(chosen.podName);
      // Nothing ever finishes: each pick adds one call to its endpoint.
      (loads[chosen.podName === 'pod-1' ? 0 : 1] as { outstanding: number }).outstanding += 1;
    }
    // With two endpoints both are always drawn, so the counts can never differ by more than one.
    assert.ok(Math.abs((loads[0]?.outstanding ?? 0) - (loads[1]?.outstanding ?? 0)) <= 1, JSON.stringify(loads));
  });

  it('weighs each endpoint by what one more call should take: expected latency × √(outstanding + 1)', () => {
    // pod-1: 5 ms × √4 = 10 ms; pod-2: 50 ms × √2 = 71 ms.
    const loads = [timed(3, 5), timed(1, 50), timed(0, 5)];
    assert.equal(new LeastRequestPicker(endpoints, loads, scripted(0.5, 0)).pick().podName, 'pod-1', 'fewer open calls, but slower');
    assert.equal(new LeastRequestPicker(endpoints, loads, scripted(0, 0)).pick().podName, 'pod-1');
    // pod-2 against pod-3: 71 ms against 5 ms × √(o + 1); pod-3 loses only past 199 calls open.
    assert.equal(new LeastRequestPicker(endpoints, [timed(3, 5), timed(1, 50), timed(198, 5)], scripted(0.5, 0.9)).pick().podName, 'pod-3');
    assert.equal(new LeastRequestPicker(endpoints, [timed(3, 5), timed(1, 50), timed(200, 5)], scripted(0.5, 0.9)).pick().podName, 'pod-2');
  });

  it('gives a pod 5 times slower no call while the others have fewer than 24 open (counts times latency would at 5)', () => {
    const slow = timed(0, 50);
    for (const open of [5, 10, 23]) {
      assert.equal(new LeastRequestPicker([endpoint(1), endpoint(2)], [slow, timed(open, 10)], scripted(0, 0)).pick().podName, 'pod-2', `${open} open`);
    }
    assert.equal(new LeastRequestPicker([endpoint(1), endpoint(2)], [slow, timed(24, 10)], scripted(0, 0)).pick().podName, 'pod-1', 'a tie at 24: the first drawn');
  });

  it('compares by count alone when either endpoint’s latency is unknown', () => {
    const loads = [timed(3, 5), calls(2), timed(0, 5)];
    assert.equal(new LeastRequestPicker(endpoints, loads, scripted(0, 0)).pick().podName, 'pod-2');
  });

  it('reads latencies on the clock it is given, at each pick', () => {
    const clock = { nowMs: 0 };
    // pod-1 stalls: the longer its one call stays open, the slower it looks.
    const stalling: RequestLoad = { outstanding: 1, expectedLatencyMicros: (nowMs) => Math.max(5_000, nowMs * 1000) };
    const picker = new LeastRequestPicker([endpoint(1), endpoint(2)], [stalling, timed(2, 5)], scripted(0, 0), () => clock.nowMs);
    assert.equal(picker.pick().podName, 'pod-1', '5 ms × √2 against 5 ms × √3');
    clock.nowMs = 8;
    assert.equal(picker.pick().podName, 'pod-2', '8 ms × √2 against 5 ms × √3');
  });

  it('hands out the only endpoint when there is one, and refuses an empty list', () => {
    assert.equal(new LeastRequestPicker([endpoint(4)], [calls(3)]).pick().podName, 'pod-4');
    assert.throws(() => new LeastRequestPicker([], []), /at least one endpoint/);
  });
});
