import assert from 'node:assert/strict';

import { RoundRobinPicker } from '../../src/lookaside/balancing/round-robin.js';
import type { Endpoint } from '../../src/lookaside/discovery/types.js';
import { endpoint } from '../support/endpoints.js';

function countPicks(pick: () => Endpoint, times: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < times; i++) {
    const address = pick().address;
    counts.set(address, (counts.get(address) ?? 0) + 1);
  }
  return counts;
}

describe('RoundRobinPicker', () => {
  it('gives each of N endpoints exactly k picks out of N×k', () => {
    for (const size of [1, 2, 3, 7, 100]) {
      const endpoints = Array.from({ length: size }, (_, i) => endpoint(i + 1)).sort((a, b) =>
        a.address.localeCompare(b.address),
      );
      const picker = new RoundRobinPicker(endpoints);
      const counts = countPicks(() => picker.pick(), size * 13);
      assert.equal(counts.size, size);
      for (const count of counts.values()) assert.equal(count, 13);
    }
  });

  it('hands out endpoints in address order, one after another', () => {
    const picker = new RoundRobinPicker([endpoint(1), endpoint(2), endpoint(3)]);
    const order = Array.from({ length: 6 }, () => picker.pick().podName);
    assert.deepEqual(order, ['pod-1', 'pod-2', 'pod-3', 'pod-1', 'pod-2', 'pod-3']);
  });

  it('stays exactly even when many concurrent calls pick at once', async () => {
    const picker = new RoundRobinPicker([endpoint(1), endpoint(2), endpoint(3), endpoint(4)]);
    const picks = await Promise.all(
      Array.from({ length: 400 }, async (_, i) => {
        await new Promise((resolve) => setTimeout(resolve, i % 5));
        return picker.pick().address;
      }),
    );
    const counts = new Map<string, number>();
    for (const address of picks) counts.set(address, (counts.get(address) ?? 0) + 1);
    assert.deepEqual([...counts.values()], [100, 100, 100, 100]);
  });

  it('continues after the last address when the endpoint list changes', () => {
    const first = new RoundRobinPicker([endpoint(1), endpoint(2), endpoint(3)]);
    assert.equal(first.pick().podName, 'pod-1');
    assert.equal(first.pick().podName, 'pod-2');
    // pod-3 left, pod-4 arrived: the rotation goes on after pod-2 instead of restarting at pod-1.
    const second = new RoundRobinPicker([endpoint(1), endpoint(2), endpoint(4)], first.lastPicked);
    assert.deepEqual(
      Array.from({ length: 4 }, () => second.pick().podName),
      ['pod-4', 'pod-1', 'pod-2', 'pod-4'],
    );
  });

  it('does not give the same endpoint two turns in a row when the last one picked leaves', () => {
    const first = new RoundRobinPicker([endpoint(1), endpoint(2), endpoint(3)]);
    first.pick();
    first.pick();
    first.pick(); // pod-3
    const second = new RoundRobinPicker([endpoint(1), endpoint(2)], first.lastPicked);
    assert.equal(second.pick().podName, 'pod-1');
    assert.equal(second.pick().podName, 'pod-2');
  });

  it('stays even across a change that keeps the same endpoints', () => {
    const endpoints = [endpoint(1), endpoint(2), endpoint(3)];
    let picker = new RoundRobinPicker(endpoints);
    const counts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      if (i % 7 === 0) picker = new RoundRobinPicker([...endpoints], picker.lastPicked);
      const address = picker.pick().address;
      counts.set(address, (counts.get(address) ?? 0) + 1);
    }
    assert.deepEqual([...counts.values()], [100, 100, 100]);
  });

  it('refuses an empty list', () => {
    assert.throws(() => new RoundRobinPicker([]), /at least one endpoint/);
  });
});
