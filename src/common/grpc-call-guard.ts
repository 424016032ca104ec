import { constants as http2Constants, type ServerHttp2Stream } from 'node:http2';
import { Duplex } from 'node:stream';

import {
  status as Status,
  type Metadata,
  type ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
} from '@grpc/grpc-js';

import { RequestFraming } from './grpc-request-framing.js';

type NextListener = Parameters<ServerInterceptingCallInterface['start']>[0];
type CallStatus = Parameters<ServerInterceptingCallInterface['sendStatus']>[0];

/** Guarded calls by the metadata object grpc-js hands to their handler, for whenStreamCloses. */
const callsByMetadata = new WeakMap<Metadata, GuardedCall>();

/**
 * Calls `then(reset)` once the HTTP/2 stream of a handler's call has closed:
 * `reset` is true when it closed with an error code (the client cancelled,
 * or the connection died) instead of cleanly after the status. grpc-js gives
 * handlers no such signal: a stream reset after its handler ended it, before
 * the status went out, looks like one that ended well. Returns false (and
 * never calls `then`) when the server has no CallGuard.
 */
export function whenStreamCloses(call: { readonly metadata: Metadata }, then: (reset: boolean) => void): boolean {
  const guarded = callsByMetadata.get(call.metadata);
  return guarded !== undefined && guarded.whenClosed(then);
}

/** What a CallGuard allows, and whom it tells. */
export interface CallGuardOptions {
  /**
   * Calls of every kind open at once, from their headers until their status
   * is out (a request stream: until its HTTP/2 stream is gone); the next is refused.
   */
  readonly maxOpenCalls: number;
  /** How the limit is set, named in the refusal (e.g. the environment variable). */
  readonly limitName: string;
  /** Called for each call refused for maxOpenCalls. */
  readonly onRefused?: () => void;
}

/**
 * A grpc-js server interceptor that bounds the calls a server holds open and
 * gives honest statuses where grpc-js gives misleading ones:
 * - more than `maxOpenCalls` calls → RESOURCE_EXHAUSTED naming the limit, at once;
 * - a request cut short inside a message, a unary request with no message or
 *   a second one → INVALID_ARGUMENT (grpc-js: nothing, or UNIMPLEMENTED
 *   "no request message for server streaming method");
 * - a stream the client reset is never reported as half-closed (grpc-js
 *   reports the reset as a clean end of input first, the cancel only later,
 *   so a cancelled stream looked like one that ended OK).
 */
export class CallGuard {
  private open = 0;

  constructor(private readonly options: CallGuardOptions) {}

  /** Calls open now. */
  get openCalls(): number {
    return this.open;
  }

  /**
   * For `new Server({ interceptors })`. grpc-js types an interceptor's result
   * as its ServerInterceptingCall class but only calls the interface methods.
   */
  readonly interceptor: ServerInterceptor = (method, call) =>
    new GuardedCall(method, call, this) as unknown as ServerInterceptingCall;

  /** Takes a slot for a new call; false (and the refusal's status) when none is free. */
  acquire(): CallStatus | undefined {
    if (this.open < this.options.maxOpenCalls) {
      this.open += 1;
      return undefined;
    }
    this.options.onRefused?.();
    return {
      code: Status.RESOURCE_EXHAUSTED,
      details: `the server has ${this.open} calls open, its limit (${this.options.limitName}); retry later`,
    };
  }

  release(): void {
    this.open -= 1;
  }
}

/**
 * One call seen through the guard: both the call its handler talks to
 * (passed on to grpc-js's) and the listener grpc-js reports to (passed on to
 * the handler's). One object and no closures per call, since every Resolve
 * goes through it; grpc-js's ServerInterceptingCall allocates several
 * closures per call and per message.
 */
class GuardedCall implements ServerInterceptingCallInterface, NextListener {
  private handler: NextListener | undefined;
  private messages = 0;
  private holdsSlot = false;
  /** The HTTP/2 stream is corked, gathering the messages sent meanwhile. */
  private corked = false;
  /** Messages sent; with a request stream, answers owed are the requests arrived minus these. */
  private sent = 0;
  private readonly stream: ServerHttp2Stream | undefined;
  /** Only for request streams: a unary request cut short simply has no message. */
  private readonly framing: RequestFraming | undefined;

  constructor(
    private readonly method: ServerMethodDefinition<unknown, unknown>,
    private readonly next: ServerInterceptingCallInterface,
    private readonly guard: CallGuard,
  ) {
    this.stream = http2StreamOf(next);
    if (method.requestStream && this.stream !== undefined) {
      const framing = new RequestFraming();
      this.framing = framing;
      this.stream.on('data', (chunk: Buffer) => framing.push(chunk));
    }
  }

  start(listener: NextListener): void {
    const refusal = this.guard.acquire();
    if (refusal !== undefined) {
      this.next.sendStatus(refusal);
      this.stopClientSending();
      return;
    }
    this.handler = listener;
    this.holdsSlot = true;
    // A request stream may stay open after its status (the client still
    // sending): it holds its slot, and its memory, until the stream is gone.
    if (this.method.requestStream) this.stream?.once('close', () => this.release());
    this.next.start(this);
  }

  onReceiveMetadata(metadata: Metadata): void {
    if (this.method.requestStream) callsByMetadata.set(metadata, this);
    this.handler?.onReceiveMetadata(metadata);
  }

  onReceiveMessage(message: unknown): void {
    if (!this.method.requestStream && this.messages > 0) {
      this.next.sendStatus({ code: Status.INVALID_ARGUMENT, details: 'a second request message arrived; this method takes exactly one' });
      return;
    }
    this.messages += 1;
    this.handler?.onReceiveMessage(message);
  }

  onReceiveHalfClose(): void {
    const handler = this.handler;
    // A reset stream is closed before grpc-js reports its end of input; the cancel follows.
    if (handler === undefined || this.stream?.closed === true) return;
    const problem = this.method.requestStream
      ? this.framing?.cutShort()
      : this.messages === 0
        ? 'the request ended before one whole message arrived; this method takes exactly one'
        : undefined;
    if (problem === undefined) {
      handler.onReceiveHalfClose();
    } else {
      this.next.sendStatus({ code: Status.INVALID_ARGUMENT, details: problem });
    }
  }

  /** grpc-js calls this once the status is out, or the stream closed, whichever comes first. */
  onCancel(): void {
    if (!this.method.requestStream || this.stream === undefined) {
      // A unary request's handler runs only once the client half-closed, so a
      // client still sending got one of grpc-js's own trailers-only statuses.
      this.release();
      this.stopClientSending();
    }
    this.handler?.onCancel();
  }

  whenClosed(then: (reset: boolean) => void): boolean {
    const stream = this.stream;
    if (stream === undefined) return false;
    const report = (): void => then(stream.rstCode !== undefined && stream.rstCode !== http2Constants.NGHTTP2_NO_ERROR);
    if (stream.destroyed) queueMicrotask(report);
    else stream.once('close', report);
    return true;
  }

  sendMetadata(metadata: Metadata): void {
    this.next.sendMetadata(metadata);
  }

  sendMessage(message: unknown, callback: () => void): void {
    const stream = this.stream;
    if (!this.method.responseStream || stream === undefined) {
      this.next.sendMessage(message, callback);
      return;
    }
    this.sent += 1;
    // More requests are here than answered: their answers follow in this turn.
    const more = this.framing !== undefined && this.framing.completed > this.sent;
    if (more) this.gatherWrites(stream);
    this.next.sendMessage(message, ignore);
    if (!more && this.corked) uncork(this, stream);
    // grpc-js's call stream writes its next message only once this one is
    // flushed to the socket, a turn of the event loop later: say it is sent
    // as soon as the HTTP/2 stream has taken it, unless that stream is over
    // its high-water mark (then the call stream buffers, and its writer sees
    // write() return false, as before).
    if (stream.writableNeedDrain) stream.once('drain', callback);
    else callback();
  }

  sendStatus(status: CallStatus): void {
    this.next.sendStatus(status);
  }

  startRead(): void {
    this.next.startRead();
  }

  getPeer(): string {
    return this.next.getPeer();
  }

  getDeadline(): ReturnType<ServerInterceptingCallInterface['getDeadline']> {
    return this.next.getDeadline();
  }

  getHost(): string {
    return this.next.getHost();
  }

  getAuthContext(): ReturnType<ServerInterceptingCallInterface['getAuthContext']> {
    return this.next.getAuthContext();
  }

  getConnectionInfo(): ReturnType<ServerInterceptingCallInterface['getConnectionInfo']> {
    return this.next.getConnectionInfo();
  }

  getMetricsRecorder(): ReturnType<ServerInterceptingCallInterface['getMetricsRecorder']> {
    return this.next.getMetricsRecorder();
  }

  /**
   * Answers to requests that arrived together leave together: one write of
   * the HTTP/2 stream (one DATA frame) instead of one each. grpc-js hands a
   * stream its requests a tick or a microtask apart, so the stream stays
   * corked until the answer that catches up with the requests arrived (or,
   * for streams that do not answer every request, the loop's check phase).
   * A lone request's answer is not held. Ending the stream uncorks it first.
   */
  private gatherWrites(stream: ServerHttp2Stream): void {
    if (this.corked) return;
    this.corked = true;
    stream.cork();
    setImmediate(uncork, this, stream);
  }

  uncorked(): void {
    this.corked = false;
  }

  private release(): void {
    if (!this.holdsSlot) return;
    this.holdsSlot = false;
    this.guard.release();
  }

  /**
   * A client still sending after its call's status (one refused, or ended by
   * grpc-js before its handler ran) would keep the stream open, holding
   * memory and a place in the connection's max_concurrent_streams: reset it
   * with NO_ERROR behind the status, as grpc-go does; grpc-js leaves it open.
   * Only behind a trailers-only status: a reset can overtake trailers that
   * follow messages.
   */
  private stopClientSending(): void {
    const stream = this.stream;
    if (stream !== undefined && !stream.closed && !stream.readableEnded) stream.close(http2Constants.NGHTTP2_NO_ERROR);
  }
}

function ignore(): void {}

function uncork(call: GuardedCall, stream: ServerHttp2Stream): void {
  call.uncorked();
  stream.uncork();
}

/**
 * The call's HTTP/2 stream. grpc-js (1.14) keeps it private on its base call
 * and offers no hook for the two things only the stream shows: bytes of a
 * message cut short at END_STREAM (its decoder drops them), and a reset that
 * also ends the input. Without it (another grpc-js) those two checks are off.
 */
function http2StreamOf(call: ServerInterceptingCallInterface): ServerHttp2Stream | undefined {
  const stream = (call as unknown as { readonly stream?: unknown }).stream;
  return stream instanceof Duplex && 'closed' in stream ? (stream as ServerHttp2Stream) : undefined;
}
