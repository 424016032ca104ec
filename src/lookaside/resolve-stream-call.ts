import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';

import { status as Status } from '@grpc/grpc-js';

import { admitCall, H2Call, type H2MethodContext, type MessageCodec } from '../common/grpc-h2-call.js';
import { MalformedRequest } from '../common/grpc-request-framing.js';
import type { StreamRoute } from '../common/grpc-stream-routes.js';
import type { AnswerSink, ResolveStreams, ResolveStreamSession, StreamAnswer } from './resolve-stream.js';
import { cannotDecode } from './unary-calls.js';

/** The stream route of ResolveStream: each stream's requests go to a ResolveStreams session, its answers back in batches. */
export function resolveStreamRoute<Request, Response>(
  context: H2MethodContext,
  codec: MessageCodec<Request, StreamAnswer<Response>>,
  streams: ResolveStreams<Request, Response>,
): StreamRoute {
  return (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const deadlineMs = admitCall(stream, headers, context);
    if (deadlineMs === undefined) return;
    const call = new ResolveStreamCall(stream, deadlineMs, context, codec, headers['grpc-encoding'] as string | undefined);
    call.attach(streams.open(call));
  };
}

/**
 * A ResolveStream on its HTTP/2 stream: the requests of one DATA chunk are
 * answered, those ready at once leave in one write.
 */
class ResolveStreamCall<Request, Response> extends H2Call implements AnswerSink<Response> {
  private session: ResolveStreamSession<Request, Response> | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;

  constructor(
    stream: ServerHttp2Stream,
    deadlineMs: number,
    context: H2MethodContext,
    private readonly codec: MessageCodec<Request, StreamAnswer<Response>>,
    encoding: string | undefined,
  ) {
    super(stream, deadlineMs, context, encoding);
  }

  attach(session: ResolveStreamSession<Request, Response>): void {
    this.session = session;
    if (this.deadlineMs !== Number.POSITIVE_INFINITY && !this.ended) {
      this.deadlineTimer = setTimeout(() => this.expired(), Math.max(0, this.remainingMs())).unref();
    }
  }

  onMessage(bytes: Buffer): void {
    const session = this.session;
    if (session === undefined) return;
    this.context.counters.received.inc();
    let request: Request | MalformedRequest;
    try {
      request = this.codec.decode(bytes);
    } catch (error) {
      request = cannotDecode(error);
    }
    session.request(request);
  }

  override onUnreadable(code: Status, message: string): void {
    this.session?.fail(code, message);
  }

  protected override afterChunk(): void {
    this.session?.sendQueued();
  }

  protected onInputEnd(cutShort: string | undefined): void {
    const session = this.session;
    if (session === undefined) return;
    if (cutShort !== undefined) {
      // Counted as a message received, as when grpc-js handed it on.
      this.context.counters.received.inc();
      session.request(new MalformedRequest(cutShort));
      session.sendQueued();
    }
    session.inputEnded();
  }

  protected onCancelled(code: Status): void {
    clearTimeout(this.deadlineTimer);
    this.session?.cancelled(code);
  }

  protected override onDrain(): void {
    this.session?.drained();
  }

  send(answer: StreamAnswer<Response>): void {
    this.queueMessage(this.codec.encode(answer));
    this.context.counters.sent.inc();
  }

  flush(): boolean {
    return this.flushWrites();
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  end(code: Status, message: string): void {
    clearTimeout(this.deadlineTimer);
    this.sendStatus(code, message, undefined);
  }

  /** The deadline passed: the stream ends with DEADLINE_EXCEEDED, as grpc-js ended it. */
  expired(): void {
    this.session?.fail(Status.DEADLINE_EXCEEDED, 'Deadline exceeded');
  }
}
