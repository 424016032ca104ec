import assert from 'node:assert/strict';

import { PushCoalescer, PUSH_MAX_DELAY_MS, PUSH_QUIET_MS } from '../../src/lookaside/xds/push-coalescer.js';
import { ManualTimers } from '../support/manual-timers.js';

describe('xDS push window', () => {
  let timers: ManualTimers;
  let flushes: Array<{ atMs: number; keys: string[] }>;
  let coalescer: PushCoalescer;

  beforeEach(() => {
    timers = new ManualTimers();
    flushes = [];
    coalescer = new PushCoalescer({ timers, flush: (keys) => flushes.push({ atMs: timers.now(), keys: [...keys].sort() }) });
  });

  it('turns a burst of changes (a rolling update) into one push, PUSH_QUIET_MS after the last one', () => {
    const startMs = timers.now();
    for (let i = 0; i < 5; i++) {
      coalescer.mark(i % 2 === 0 ? 'default/greet' : 'default/other');
      timers.advance(PUSH_QUIET_MS / 2);
    }
    assert.equal(flushes.length, 0, 'nothing is pushed while changes keep coming');
    timers.advance(PUSH_QUIET_MS);
    assert.deepEqual(flushes, [{ atMs: startMs + 4 * (PUSH_QUIET_MS / 2) + PUSH_QUIET_MS, keys: ['default/greet', 'default/other'] }]);
  });

  it('pushes a change that comes alone after PUSH_QUIET_MS', () => {
    const startMs = timers.now();
    coalescer.mark('default/greet');
    timers.advance(PUSH_QUIET_MS - 1);
    assert.equal(flushes.length, 0);
    timers.advance(1);
    assert.deepEqual(flushes, [{ atMs: startMs + PUSH_QUIET_MS, keys: ['default/greet'] }]);
  });

  it('never holds a change longer than PUSH_MAX_DELAY_MS, however long the burst', () => {
    const startMs = timers.now();
    for (let elapsed = 0; elapsed < 3 * PUSH_MAX_DELAY_MS; elapsed += PUSH_QUIET_MS / 4) {
      coalescer.mark('default/greet');
      timers.advance(PUSH_QUIET_MS / 4);
    }
    timers.advance(PUSH_QUIET_MS);
    assert.ok(flushes.length >= 3, `${flushes.length} pushes`);
    assert.equal(flushes[0]?.atMs, startMs + PUSH_MAX_DELAY_MS);
    for (const [i, flush] of flushes.entries()) {
      const previousMs = i === 0 ? startMs : (flushes[i - 1]?.atMs as number);
      assert.ok(flush.atMs - previousMs <= PUSH_MAX_DELAY_MS + PUSH_QUIET_MS / 4, `push ${i} came ${flush.atMs - previousMs} ms after the one before`);
    }
  });

  it('drops what is pending when cancelled', () => {
    coalescer.mark('default/greet');
    coalescer.cancel();
    timers.advance(PUSH_MAX_DELAY_MS);
    assert.deepEqual(flushes, []);
    assert.equal(timers.size, 0);
  });
});
