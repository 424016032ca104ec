import assert from 'node:assert/strict';

import { status as Status } from '@grpc/grpc-js';

import type { BidiHandlers, BidiStream } from '../../../src/greet/gateway/grpc-bidi-call.js';
import type { CallStatus } from '../../../src/greet/gateway/grpc-wire.js';
import {
  ResolveStreamClient,
  STREAM_REOPEN_BACKOFF_INITIAL_MS,
  STREAM_REOPEN_BACKOFF_MAX_MS,
  type StreamAnswer,
  type StreamResult,
} from '../../../src/greet/gateway/resolve-stream-client.js';
import { installFakeClock, type FakeClock } from '../../support/fake-clock.js';

interface Answer {
  address: string;
}

/** One stream as the client opened it: the test answers, ends, and looks at how it was cancelled. */
class FakeStream implements BidiStream {
  writes = 0;
  cancelled = false;
  /** Why the client dropped the connection under this stream, if it did. */
  droppedConnection: string | undefined;

  constructor(private readonly handlers: BidiHandlers) {}

  write(): void {
    this.writes += 1;
  }

  cancel(): void {
    this.cancelled = true;
  }

  cancelWithConnection(reason: string): void {
    this.cancelled = true;
    this.droppedConnection = reason;
  }

  answer(answer: StreamAnswer<Answer> | string): void {
    this.handlers.message(Buffer.from(typeof answer === 'string' ? answer : JSON.stringify(answer)));
  }

  end(status: CallStatus): void {
    this.handlers.end(status);
  }
}

const ok = (address: string): StreamAnswer<Answer> => ({ response: { address }, code: 0, message: '', reason: '' });

const TIMEOUT_MS = 100;

describe('ResolveStreamClient (Resolve over one long-lived bidi stream; fake streams, fake clock)', () => {
  let clock: FakeClock;
  let streams: FakeStream[];
  let client: ResolveStreamClient<Answer>;
  let lateAnswers: StreamAnswer<Answer>[];

  beforeEach(() => {
    clock = installFakeClock();
    streams = [];
    lateAnswers = [];
    client = new ResolveStreamClient<Answer>({
      open: (handlers) => {
        const stream = new FakeStream(handlers);
        streams.push(stream);
        return stream;
      },
      requestFrame: Buffer.from('question'),
      deserialize: (bytes) => JSON.parse(bytes.toString('utf8')) as StreamAnswer<Answer>,
      timeoutMs: TIMEOUT_MS,
      now: () => Date.now(),
      onLateAnswer: (answer) => lateAnswers.push(answer),
    });
  });

  afterEach(() => {
    client.close();
    clock.restore();
  });

  /** The settled value of `promise` now, or 'pending'; the client settles synchronously, so one microtask turn is enough. */
  async function peek<T>(promise: Promise<T>): Promise<T | 'pending'> {
    return Promise.race([promise, Promise.resolve().then(() => 'pending' as const)]);
  }

  function current(): FakeStream {
    const stream = streams.at(-1);
    assert.ok(stream !== undefined, 'no stream was opened');
    return stream;
  }

  it('fails a request unanswered by its deadline as unreachable, and keeps later answers matched', async () => {
    const first = client.resolve();
    clock.tick(60);
    const second = client.resolve();
    clock.tick(40); // the first request's deadline
    const firstResult = await first;
    assert.equal(firstResult.kind, 'unreachable');
    assert.equal(firstResult.kind === 'unreachable' && firstResult.code, Status.DEADLINE_EXCEEDED);
    assert.equal(await peek(second), 'pending');
    // The late answer belongs to the first request and is dropped; the second gets its own.
    current().answer(ok('late:1'));
    current().answer(ok('on-time:2'));
    assert.deepEqual(await second, { kind: 'answer', answer: ok('on-time:2') });
    assert.deepEqual(lateAnswers, [ok('late:1')], 'the late answer is handed back, so what it picked can be released');
    assert.equal(streams.length, 1);
    assert.equal(current().cancelled, false);
  });

  it('cancels a stuck stream together with its connection, and opens a new stream for the next request', async () => {
    const stuck = client.resolve();
    clock.tick(TIMEOUT_MS);
    assert.equal((await stuck).kind, 'unreachable');
    assert.equal(current().droppedConnection, undefined, 'one missed deadline is not yet stuck');
    clock.tick(TIMEOUT_MS); // two deadlines without an answer
    assert.equal(streams[0]?.cancelled, true);
    assert.match(streams[0]?.droppedConnection ?? '', /no answer for 200 ms; reopening it on a new connection/);

    clock.tick(STREAM_REOPEN_BACKOFF_INITIAL_MS);
    const next = client.resolve();
    assert.equal(streams.length, 2);
    current().answer(ok('10.0.0.2:1'));
    assert.deepEqual(await next, { kind: 'answer', answer: ok('10.0.0.2:1') });
  });

  it('fails every pending request as unreachable when the stream ends, then reopens after a backoff', async () => {
    const pending = [client.resolve(), client.resolve()];
    current().end({ code: Status.UNAVAILABLE, details: 'shutting down', fromServer: true });
    for (const result of await Promise.all(pending)) {
      assert.equal(result.kind, 'unreachable');
      assert.match(result.kind === 'unreachable' ? result.message : '', /shutting down/);
    }
    // Right after the failure the stream is not reopened (a down lookaside is not hammered).
    const during = await client.resolve();
    assert.equal(during.kind === 'unreachable' ? during.message : '', 'ResolveStream failed: shutting down; reopening in 100 ms');
    assert.equal(streams.length, 1);
    assert.equal(streams[0]?.droppedConnection, undefined, 'an ended stream says nothing about its connection');
    clock.tick(STREAM_REOPEN_BACKOFF_INITIAL_MS);
    const after = client.resolve();
    current().answer(ok('10.0.0.3:1'));
    assert.deepEqual(await after, { kind: 'answer', answer: ok('10.0.0.3:1') });
    assert.equal(streams.length, 2);
  });

  it('opens a new stream at once when the lookaside ends one that owed nothing (its idle limit)', async () => {
    const first = client.resolve();
    current().answer(ok('10.0.0.1:1'));
    assert.deepEqual(await first, { kind: 'answer', answer: ok('10.0.0.1:1') });
    current().end({ code: Status.DEADLINE_EXCEEDED, details: 'no request for 300 s (RESOLVE_STREAM_IDLE_SECONDS)', fromServer: true });
    const next = client.resolve();
    assert.equal(streams.length, 2, 'no backoff: nothing was lost');
    current().answer(ok('10.0.0.2:1'));
    assert.deepEqual(await next, { kind: 'answer', answer: ok('10.0.0.2:1') });
  });

  it('doubles the reopen backoff on failures in a row up to its cap, and starts over after an answer', async () => {
    const waits: string[] = [];
    const endAndSeeWait = async (): Promise<void> => {
      void client.resolve();
      current().end({ code: Status.UNAVAILABLE, details: 'refused', fromServer: false });
      const result: StreamResult<Answer> = await client.resolve();
      waits.push(result.kind === 'unreachable' ? (/reopening in (\d+) ms/.exec(result.message)?.[1] ?? '') : result.kind);
      clock.tick(STREAM_REOPEN_BACKOFF_MAX_MS);
    };
    for (let i = 0; i < 6; i += 1) await endAndSeeWait();
    assert.deepEqual(waits, ['100', '200', '400', '800', '1600', '2000']);
    const answered = client.resolve();
    current().answer(ok('10.0.0.4:1'));
    await answered;
    await endAndSeeWait();
    assert.equal(waits.at(-1), '100');
  });

  it('drops the stream when an answer does not decode, then reopens after a backoff', async () => {
    const failed = client.resolve();
    current().answer('{not json');
    const result = await failed;
    assert.equal(result.kind === 'unreachable' && result.code, Status.INTERNAL);
    assert.match(result.kind === 'unreachable' ? result.message : '', /cannot decode a ResolveStream answer/);
    assert.equal(streams[0]?.cancelled, true);
    clock.tick(STREAM_REOPEN_BACKOFF_INITIAL_MS);
    const next = client.resolve();
    current().answer(ok('10.0.0.5:1'));
    assert.deepEqual(await next, { kind: 'answer', answer: ok('10.0.0.5:1') });
  });

  it('drops the stream when the lookaside answers more than it was asked', async () => {
    const first = client.resolve();
    current().answer(ok('10.0.0.6:1'));
    await first;
    current().answer(ok('10.0.0.6:1'));
    assert.equal(streams[0]?.cancelled, true);
  });

  it('says unimplemented, for every pending request, when the lookaside has no ResolveStream', async () => {
    const pending = [client.resolve(), client.resolve()];
    current().end({ code: Status.UNIMPLEMENTED, details: 'unknown method', fromServer: true });
    assert.deepEqual(await Promise.all(pending), [{ kind: 'unimplemented' }, { kind: 'unimplemented' }]);
  });
});
