import assert from 'node:assert/strict';
import { connect as connectH2 } from 'node:http2';
import { connect, type Socket } from 'node:net';

import { status as Status, type Client, type ServiceError } from '@grpc/grpc-js';

import { shutdownServer } from '../../src/common/grpc.js';
import type { Timers } from '../../src/common/timers.js';
import { ECHO, EchoFront } from '../support/echo-front.js';
import { until } from '../support/lookaside-server.js';
import { ManualTimers } from '../support/manual-timers.js';
import { RawH2Connection } from '../support/raw-h2-connection.js';

const KEEPALIVE_MS = 10_000;
const KEEPALIVE_TIMEOUT_MS = 2_000;
const IDLE_MS = 60_000;

/** ManualTimers that also say which delays are waiting, so a test can wait for a ping's answer. */
class WatchedTimers implements Timers {
  readonly manual = new ManualTimers();
  private readonly delays = new Map<unknown, number>();

  now(): number {
    return this.manual.now();
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const handle = this.manual.setTimeout(() => {
      this.delays.delete(handle);
      callback();
    }, ms);
    this.delays.set(handle, ms);
    return handle;
  }

  clearTimeout(handle: unknown): void {
    this.delays.delete(handle);
    this.manual.clearTimeout(handle);
  }

  /** Timers waiting with this delay. */
  waiting(ms: number): number {
    return [...this.delays.values()].filter((delay) => delay === ms).length;
  }
}

function hold(client: Client): Promise<ServiceError | null> {
  return new Promise((resolve) => client.makeUnaryRequest(ECHO.Hold.path, (bytes: Buffer) => bytes, (bytes: Buffer) => bytes, Buffer.from('a'), (error) => resolve(error)));
}

function echoUnary(client: Client): Promise<ServiceError | null> {
  return new Promise((resolve) => client.makeUnaryRequest(ECHO.Unary.path, (bytes: Buffer) => bytes, (bytes: Buffer) => bytes, Buffer.from('a'), (error) => resolve(error)));
}

describe('GrpcFront: the connections it owns (SETTINGS, keepalive, idle, shutdown, garbage)', () => {
  let echo: EchoFront;
  let timers: WatchedTimers;
  const raws: RawH2Connection[] = [];

  beforeEach(() => {
    timers = new WatchedTimers();
  });

  afterEach(() => {
    for (const raw of raws.splice(0)) raw.close();
    echo.stop();
  });

  async function raw(answerPings = true): Promise<RawH2Connection> {
    const connection = await RawH2Connection.open(echo.port, '127.0.0.1', answerPings);
    raws.push(connection);
    return connection;
  }

  const start = async (options: { readonly maxStreamsPerConnection?: number; readonly keepaliveTimeMs?: number } = {}): Promise<void> => {
    echo = await EchoFront.start({
      times: { keepaliveTimeMs: options.keepaliveTimeMs ?? KEEPALIVE_MS, keepaliveTimeoutMs: KEEPALIVE_TIMEOUT_MS, connectionIdleMs: IDLE_MS },
      timers,
      ...(options.maxStreamsPerConnection === undefined ? {} : { maxStreamsPerConnection: options.maxStreamsPerConnection }),
    });
  };

  it('advertises its max concurrent streams in SETTINGS', async () => {
    await start({ maxStreamsPerConnection: 7 });
    const session = connectH2(`http://${echo.target}`);
    try {
      const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve) => session.once('remoteSettings', resolve));
      assert.equal(settings.maxConcurrentStreams, 7);
    } finally {
      session.destroy();
    }
  });

  it('pings every keepalive time and drops a connection whose ping goes unanswered for the timeout, keeping one that answers', async () => {
    await start();
    const [gone, alive] = [await raw(false), await raw(true)];
    await until(() => echo.front.size === 2 && timers.waiting(KEEPALIVE_MS) === 2, 'both connections adopted');
    timers.manual.advance(KEEPALIVE_MS);
    assert.equal(timers.waiting(KEEPALIVE_TIMEOUT_MS), 2, 'a ping out on each');
    await until(() => timers.waiting(KEEPALIVE_MS) === 1, 'the answering connection acknowledged its ping');
    timers.manual.advance(KEEPALIVE_TIMEOUT_MS - 1);
    assert.equal(gone.counts.closed, false, 'not before the timeout');
    timers.manual.advance(1);
    await gone.closed;
    await until(() => echo.front.size === 1, 'the silent connection dropped');
    assert.equal(alive.counts.closed, false);
  });

  it('sends GOAWAY to a connection with no stream open for the idle time, not to one with a call open', async () => {
    await start({ keepaliveTimeMs: 10 * IDLE_MS }); // no ping on the way: manual time does not wait for answers
    const idle = await raw();
    const client = echo.client();
    const held = hold(client);
    await until(() => echo.seen.held.length === 1 && echo.front.size === 2, 'a call open on the other connection');
    const goawayCode = (): number | undefined => idle.counts.goaway?.code;
    timers.manual.advance(IDLE_MS - 1);
    assert.equal(goawayCode(), undefined, 'not before the idle time');
    timers.manual.advance(1);
    await idle.closed;
    assert.equal(goawayCode(), 0);
    await until(() => echo.front.size === 1, 'the idle connection gone');
    assert.equal(echo.seen.cancelled, 0, 'the call on the other connection is still open');
    echo.seen.held[0]?.();
    assert.equal(await held, null);
  });

  it('graceful shutdown: the call in flight finishes, new calls are refused, then it resolves "drained"', async () => {
    await start();
    const client = echo.client();
    const held = hold(client);
    await until(() => echo.seen.held.length === 1, 'the call reached grpc-js');
    echo.closeListener();
    const stopping = shutdownServer(echo.front, 600_000);
    const late = await echoUnary(echo.client());
    assert.equal(late?.code, Status.UNAVAILABLE, 'no new call once stopping');
    echo.seen.held[0]?.();
    assert.equal(await held, null, 'the call in flight was answered');
    assert.equal(await stopping, 'drained');
    assert.equal(echo.front.size, 0);
  });

  it('forced shutdown ends the calls in flight at once, and grpc-js sees them cancelled', async () => {
    await start();
    const held = hold(echo.client());
    await until(() => echo.seen.held.length === 1, 'the call reached grpc-js');
    echo.front.forceShutdown();
    const error = await held;
    assert.ok(error !== null && [Status.UNAVAILABLE, Status.CANCELLED, Status.INTERNAL].includes(error.code), String(error));
    await until(() => echo.seen.cancelled === 1, 'grpc-js cancelled the call');
    await until(() => echo.front.size === 0, 'every connection gone');
  });

  it('closes a connection that does not speak HTTP/2, and keeps serving', async () => {
    await start();
    const socket: Socket = connect({ port: echo.port, host: '127.0.0.1' });
    socket.on('error', () => undefined);
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.resume(); // what the front answers (SETTINGS, GOAWAY), then its end
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(20));
    await closed;
    assert.equal(await echoUnary(echo.client()), null);
  });
});
