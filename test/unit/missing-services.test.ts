import assert from 'node:assert/strict';

import { MissingServices } from '../../src/lookaside/missing-services.js';

const MISSING = { kind: 'missing' } as const;

describe('MissingServices', () => {
  it('answers until the time to live is over, however often it is asked', () => {
    const missing = new MissingServices(10);
    missing.remember('default/a', MISSING, 1_000, 5_000);
    for (let nowMs = 1_000; nowMs < 6_000; nowMs += 500) assert.deepEqual(missing.get('default/a', nowMs), MISSING);
    assert.equal(missing.get('default/a', 6_000), undefined);
    assert.equal(missing.size, 0);
  });

  it('holds at most its capacity, forgetting the oldest first, also when names are remembered again', () => {
    const missing = new MissingServices(3);
    for (const id of ['a', 'b', 'c']) missing.remember(id, MISSING, 0, 1_000);
    // `a` again: now the newest, so `b` is the oldest.
    missing.remember('a', { kind: 'failed', failure: { kind: 'unavailable', message: 'down' } }, 0, 1_000);
    missing.remember('d', MISSING, 0, 1_000);
    assert.deepEqual(['a', 'b', 'c', 'd'].filter((id) => missing.get(id, 0) !== undefined), ['a', 'c', 'd']);
    assert.equal(missing.get('a', 0)?.kind, 'failed');
    for (let i = 0; i < 100; i++) missing.remember(i % 2 === 0 ? 'x' : `n${i}`, MISSING, 0, 1_000);
    assert.ok(missing.size <= 3, `${missing.size} entries`);
    assert.notEqual(missing.get('n99', 0), undefined);
  });

  it('sweeps every expired entry and keeps the rest', () => {
    const missing = new MissingServices(10);
    missing.remember('short', MISSING, 0, 1_000);
    missing.remember('long', MISSING, 0, 5_000);
    missing.remember('shorter', MISSING, 0, 500);
    missing.sweep(1_000);
    assert.equal(missing.size, 1);
    assert.notEqual(missing.get('long', 1_000), undefined);
  });

  it('remembers nothing with a time to live of 0', () => {
    const missing = new MissingServices(10);
    missing.remember('a', MISSING, 0, 0);
    assert.equal(missing.size, 0);
  });
});
