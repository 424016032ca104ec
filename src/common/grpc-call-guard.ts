import { constants as http2Constants, type ServerHttp2Stream } from 'node:http2';
import { Duplex } from 'node:stream';

import {
  ServerInterceptingCall,
  status as Status,
  type Metadata,
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
 * handlers no such signal: a client that half-closes and then cancels (as
 * grpc-js's cancel() does) looks like a stream that ended well. Returns false
 * (and never calls `then`) when the server has no CallGuard.
 */
export function whenStreamCloses(call: { readonly metadata: Metadata }, then: (reset: boolean) => void): boolean {
  const guarded = callsByMetadata.get(call.metadata);
  return guarded !== undefined && guarded.whenClosed(then);
}

/**
 * A request that could not be decoded, or that the client cut short: a method
 * that takes it answers INVALID_ARGUMENT with `reason` (a stream goes on).
 */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

export interface CallGuardOptions {
  /** Calls of every kind open at once, from their headers to their status; the next is refused. */
  readonly maxOpenCalls: number;
  /** How the limit is set, named in the refusal (e.g. the environment variable). */
  readonly limitName: string;
  /** Methods (paths such as `/pkg.Service/Method`) whose handlers take a MalformedRequest and answer it. */
  readonly takesMalformed: ReadonlySet<string>;
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

  readonly interceptor: ServerInterceptor = (method, call) => new GuardedCall(method, call, this);

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

  takesMalformed(path: string): boolean {
    return this.options.takesMalformed.has(path);
  }
}

class GuardedCall extends ServerInterceptingCall {
  private messages = 0;
  private readonly stream: ServerHttp2Stream | undefined;
  private readonly framing = new RequestFraming();
  private release: (() => void) | undefined;

  constructor(
    private readonly method: ServerMethodDefinition<unknown, unknown>,
    next: ServerInterceptingCallInterface,
    private readonly guard: CallGuard,
  ) {
    super(next);
    this.stream = http2StreamOf(next);
    this.stream?.on('data', (chunk: Buffer) => this.framing.push(chunk));
  }

  override start(listener: NextListener): void {
    const refusal = this.guard.acquire();
    if (refusal !== undefined) {
      super.sendStatus(refusal);
      this.stopClientSending();
      return;
    }
    // The slot is held until the HTTP/2 stream is gone, not merely until a
    // status is sent: until then the stream and its call stay in memory.
    const release = once(() => this.guard.release());
    if (this.stream === undefined) this.release = release;
    else this.stream.once('close', release);
    super.start({
      onReceiveMetadata: (metadata) => {
        callsByMetadata.set(metadata, this);
        listener.onReceiveMetadata(metadata);
      },
      onReceiveMessage: (message) => this.onMessage(listener, message),
      onReceiveHalfClose: () => this.onHalfClose(listener),
      onCancel: () => {
        this.release?.();
        listener.onCancel();
      },
    });
  }

  whenClosed(then: (reset: boolean) => void): boolean {
    const stream = this.stream;
    if (stream === undefined) return false;
    const report = (): void => then(stream.rstCode !== undefined && stream.rstCode !== http2Constants.NGHTTP2_NO_ERROR);
    if (stream.destroyed) queueMicrotask(report);
    else stream.once('close', report);
    return true;
  }

  /**
   * A refused call (trailers-only status, nothing else sent) whose client has
   * not half-closed would stay open, uncounted, holding memory and a place
   * in the connection's max_concurrent_streams: reset it with NO_ERROR behind
   * the status, as grpc-go does; grpc-js leaves it open. (Calls that were
   * taken hold their slot until their stream closes, so they are counted.)
   */
  private stopClientSending(): void {
    const stream = this.stream;
    if (stream !== undefined && !stream.closed && !stream.readableEnded) stream.close(http2Constants.NGHTTP2_NO_ERROR);
  }

  private onMessage(listener: NextListener, message: unknown): void {
    if (!this.method.requestStream && this.messages > 0) {
      this.sendStatus({ code: Status.INVALID_ARGUMENT, details: 'a second request message arrived; this method takes exactly one' });
      return;
    }
    this.messages += 1;
    listener.onReceiveMessage(message);
  }

  private onHalfClose(listener: NextListener): void {
    // A reset stream is closed before grpc-js reports its end of input; the cancel follows.
    if (this.stream?.closed === true) return;
    const unary = !this.method.requestStream;
    const problem =
      this.framing.cutShort() ?? (unary && this.messages === 0 ? 'the request has no message; this method takes exactly one' : undefined);
    if (problem === undefined) {
      listener.onReceiveHalfClose();
    } else if (this.guard.takesMalformed(this.method.path) && !(unary && this.messages > 0)) {
      listener.onReceiveMessage(new MalformedRequest(problem));
      listener.onReceiveHalfClose();
    } else {
      this.sendStatus({ code: Status.INVALID_ARGUMENT, details: problem });
    }
  }
}

function once(action: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    action();
  };
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
