import assert from 'node:assert/strict';

import { ChannelPool, type ChannelCloseReason } from '../../../src/greet/gateway/channel-pool.js';

interface FakeChannel {
  readonly address: string;
  readonly serial: number;
  closed: boolean;
}

/** A pool over fake channels, a hand-driven clock, and a record of every open and close. */
function makePool(maxChannels = 3, idleMs = 1_000) {
  let nowMs = 0;
  let serial = 0;
  const opened: string[] = [];
  const closed: Array<[string, ChannelCloseReason]> = [];
  const pool = new ChannelPool<FakeChannel>({
    factory: {
      open: (address) => ({ address, serial: ++serial, closed: false }),
      close: (channel) => {
        channel.closed = true;
      },
    },
    maxChannels,
    idleMs,
    now: () => nowMs,
    sweepAutomatically: false,
    events: {
      opened: (address) => opened.push(address),
      closed: (address, reason) => closed.push([address, reason]),
    },
  });
  return {
    pool,
    opened,
    closed,
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

describe('ChannelPool', () => {
  it('opens one channel per address on first use and reuses it afterwards', () => {
    const { pool, opened } = makePool();
    const first = pool.acquire('10.0.0.1:50051');
    pool.release(first);
    const second = pool.acquire('10.0.0.1:50051');
    pool.release(second);
    assert.equal(second.channel, first.channel);
    assert.deepEqual(opened, ['10.0.0.1:50051']);
    assert.equal(pool.size, 1);
  });

  it('keeps separate channels for separate addresses', () => {
    const { pool } = makePool();
    const a = pool.acquire('10.0.0.1:50051');
    const b = pool.acquire('10.0.0.2:50051');
    assert.notEqual(a.channel, b.channel);
    assert.equal(pool.size, 2);
  });

  it('closes channels idle for longer than idleMs, and only those', () => {
    const { pool, closed, advance } = makePool(3, 1_000);
    pool.release(pool.acquire('10.0.0.1:50051'));
    advance(600);
    pool.release(pool.acquire('10.0.0.2:50051'));
    advance(500);
    pool.sweep();
    assert.deepEqual(closed, [['10.0.0.1:50051', 'idle']]);
    assert.equal(pool.has('10.0.0.1:50051'), false);
    assert.equal(pool.has('10.0.0.2:50051'), true);
  });

  it('never closes a channel for idleness while a call is in flight on it', () => {
    const { pool, closed, advance } = makePool(3, 1_000);
    const entry = pool.acquire('10.0.0.1:50051');
    advance(5_000);
    pool.sweep();
    assert.deepEqual(closed, []);
    pool.release(entry);
    advance(1_000);
    pool.sweep();
    assert.deepEqual(closed, [['10.0.0.1:50051', 'idle']]);
  });

  it('opens a fresh channel when a closed address comes back', () => {
    const { pool, advance } = makePool(3, 1_000);
    const before = pool.acquire('10.0.0.1:50051');
    pool.release(before);
    advance(2_000);
    pool.sweep();
    const after = pool.acquire('10.0.0.1:50051');
    assert.equal(before.channel.closed, true);
    assert.equal(after.channel.closed, false);
    assert.notEqual(after.channel.serial, before.channel.serial);
  });

  it('stays within maxChannels by evicting the least recently used idle channel', () => {
    const { pool, closed, advance } = makePool(2);
    pool.release(pool.acquire('10.0.0.1:50051'));
    advance(10);
    pool.release(pool.acquire('10.0.0.2:50051'));
    advance(10);
    pool.release(pool.acquire('10.0.0.1:50051'));
    advance(10);
    pool.release(pool.acquire('10.0.0.3:50051'));
    assert.equal(pool.size, 2);
    assert.deepEqual(closed, [['10.0.0.2:50051', 'evicted']]);
  });

  it('prefers evicting an idle channel over a busier but older one', () => {
    const { pool, closed, advance } = makePool(2);
    pool.acquire('10.0.0.1:50051'); // stays in flight
    advance(10);
    pool.release(pool.acquire('10.0.0.2:50051'));
    advance(10);
    pool.acquire('10.0.0.3:50051');
    assert.deepEqual(closed, [['10.0.0.2:50051', 'evicted']]);
  });

  it('still holds the bound when every channel is busy', () => {
    const { pool, closed } = makePool(2);
    pool.acquire('10.0.0.1:50051');
    pool.acquire('10.0.0.2:50051');
    pool.acquire('10.0.0.3:50051');
    assert.equal(pool.size, 2);
    assert.deepEqual(closed, [['10.0.0.1:50051', 'evicted']]);
  });

  it('closes everything on close() and refuses to hand out channels afterwards', () => {
    const { pool, closed } = makePool();
    const a = pool.acquire('10.0.0.1:50051');
    pool.acquire('10.0.0.2:50051');
    pool.close();
    assert.equal(a.channel.closed, true);
    assert.deepEqual(closed.map(([, reason]) => reason), ['shutdown', 'shutdown']);
    assert.equal(pool.size, 0);
    assert.throws(() => pool.acquire('10.0.0.1:50051'), /closed/);
  });

  it('sweeps on its own timer when not told otherwise', async () => {
    const closed: string[] = [];
    const pool = new ChannelPool<{ address: string }>({
      factory: { open: (address) => ({ address }), close: () => undefined },
      maxChannels: 2,
      idleMs: 40,
      events: { opened: () => undefined, closed: (address) => closed.push(address) },
    });
    pool.release(pool.acquire('10.0.0.1:50051'));
    const deadline = Date.now() + 2_000;
    while (closed.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    pool.close();
    assert.deepEqual(closed.slice(0, 1), ['10.0.0.1:50051']);
  });
});
