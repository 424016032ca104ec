import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';

import { ConnectionKeepalive, type PingableSession } from '../../../src/greet/gateway/http2-keepalive.js';
import { installFakeClock, type FakeClock } from '../../support/fake-clock.js';

/** A session whose PINGs the test answers (or not). */
class FakeSession extends EventEmitter implements PingableSession {
  connecting: boolean;
  readonly pings: ((error: Error | null) => void)[] = [];

  constructor(connecting = false) {
    super();
    this.connecting = connecting;
  }

  ping(callback: (error: Error | null) => void): boolean {
    this.pings.push(callback);
    return true;
  }

  answerLastPing(): void {
    this.pings.at(-1)?.(null);
  }
}

describe('ConnectionKeepalive (HTTP/2 PINGs on the lookaside connection; fake clock)', () => {
  let clock: FakeClock;
  let dead: string[];

  beforeEach(() => {
    clock = installFakeClock();
    dead = [];
  });

  afterEach(() => clock.restore());

  function keepalive(session: FakeSession, timeMs = 1_000, timeoutMs = 500): ConnectionKeepalive {
    return new ConnectionKeepalive(session, { timeMs, timeoutMs, onDead: (reason) => dead.push(reason) });
  }

  it('PINGs timeMs after the last answer, and keeps a connection that answers', () => {
    const session = new FakeSession();
    keepalive(session);
    clock.tick(999);
    assert.equal(session.pings.length, 0);
    clock.tick(1);
    assert.equal(session.pings.length, 1);
    clock.tick(400);
    session.answerLastPing();
    clock.tick(999);
    assert.equal(session.pings.length, 1, 'the next PING is timed from the answer');
    clock.tick(1);
    assert.equal(session.pings.length, 2);
    for (let i = 0; i < 10; i += 1) {
      clock.tick(100);
      session.answerLastPing();
      clock.tick(1_000);
    }
    assert.equal(session.pings.length, 12);
    assert.deepEqual(dead, []);
  });

  it('gives the connection up when a PING is not answered within timeoutMs', () => {
    const session = new FakeSession();
    keepalive(session);
    clock.tick(1_000 + 499);
    assert.deepEqual(dead, []);
    clock.tick(1);
    assert.deepEqual(dead, ['no answer to a PING within 500 ms']);
    clock.tick(10_000);
    assert.equal(dead.length, 1, 'told once');
    assert.equal(session.pings.length, 1);
  });

  it('gives up a connection that is not up within timeoutMs, and PINGs one that comes up', () => {
    const never = new FakeSession(true);
    keepalive(never);
    clock.tick(500);
    assert.deepEqual(dead, ['no connection within 500 ms']);

    dead = [];
    const slow = new FakeSession(true);
    keepalive(slow);
    clock.tick(300);
    slow.connecting = false;
    slow.emit('connect');
    clock.tick(1_000);
    assert.equal(slow.pings.length, 1);
    assert.deepEqual(dead, []);
  });

  it('checks at once when told a call missed its deadline, one PING at a time, also with periodic PINGs off', () => {
    const session = new FakeSession();
    const checker = keepalive(session, 0);
    clock.tick(60_000);
    assert.equal(session.pings.length, 0, 'timeMs 0: no periodic PINGs');
    checker.checkNow();
    checker.checkNow();
    assert.equal(session.pings.length, 1);
    session.answerLastPing();
    clock.tick(60_000);
    assert.equal(session.pings.length, 1);
    checker.checkNow();
    clock.tick(500);
    assert.deepEqual(dead, ['no answer to a PING within 500 ms']);
  });

  it('stops when the session closes', () => {
    const session = new FakeSession();
    keepalive(session);
    clock.tick(1_000);
    session.emit('close');
    clock.tick(60_000);
    assert.deepEqual(dead, []);
    assert.equal(session.pings.length, 1);
  });
});
