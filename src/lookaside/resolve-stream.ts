import { status as Status, type ServerDuplexStream } from '@grpc/grpc-js';

import type { StreamObserver } from '../common/grpc-metrics.js';
import { remainingMs } from '../common/grpc.js';

/**
 * Unanswered requests one stream may hold (answers waiting for a Service's
 * first list, or written but not yet taken by the client) before the server
 * stops reading from it. HTTP/2 flow control then slows the client down; the
 * stream is never ended for sending too fast.
 */
export const MAX_UNANSWERED_PER_STREAM = 64;

/** What one Resolve comes to: a response, or a gRPC status with a message. */
export type Answer<Response> =
  | { readonly ok: true; readonly response: Response }
  | { readonly ok: false; readonly code: Status; readonly message: string };

/**
 * Answers one request; synchronous when it can be (the cache hit), a promise
 * when it waits (a Service's first list). The promise never rejects.
 */
export type Answering<Request, Response> = (request: Request, waitLimitMs: number) => Answer<Response> | Promise<Answer<Response>>;

/** A request whose bytes did not decode: it gets INVALID_ARGUMENT, and the stream goes on. */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

/** ResolveStreamResponse: one per request, in request order. */
export interface StreamAnswer<Response> {
  response: Response | null;
  code: number;
  message: string;
}

/** A place in the answer order, filled when its answer is known. */
interface Slot<Response> {
  answer: Answer<Response> | undefined;
}

/**
 * Every open ResolveStream of a server, so shutdown can end them. Each stream
 * answers in request order through a queue: an answer that is ready while an
 * earlier one still waits is held until the earlier one is sent.
 */
export class ResolveStreams<Request, Response> {
  private readonly open = new Set<ResolveStreamSession<Request, Response>>();
  private ending: { readonly code: Status; readonly message: string } | undefined;

  constructor(
    private readonly answering: Answering<Request, Response>,
    private readonly maxUnanswered = MAX_UNANSWERED_PER_STREAM,
  ) {}

  /** How many streams are open now. */
  get size(): number {
    return this.open.size;
  }

  /** The stream handler, for `GrpcServerMetrics.instrumentBidi`. */
  readonly handle = (call: ServerDuplexStream<Request | MalformedRequest, StreamAnswer<Response>>, observer: StreamObserver): void => {
    const session = new ResolveStreamSession(call, this.answering, this.maxUnanswered, observer, () => this.open.delete(session));
    this.open.add(session);
    session.start();
    if (this.ending !== undefined) session.end(this.ending.code, this.ending.message);
  };

  /**
   * Stops reading from every open stream (and from any that still opens),
   * sends the answers already owed, then ends each with `code`.
   */
  endAll(code: Status, message: string): void {
    this.ending = { code, message };
    for (const session of this.open) session.end(code, message);
  }
}

class ResolveStreamSession<Request, Response> {
  /** Answers owed, oldest first; empty in the common case where every answer is immediate. */
  private readonly queue: Slot<Response>[] = [];
  private paused = false;
  private writeBlocked = false;
  private inputEnded = false;
  private ending: { readonly code: Status; readonly message: string } | undefined;
  private finished = false;

  constructor(
    private readonly call: ServerDuplexStream<Request | MalformedRequest, StreamAnswer<Response>>,
    private readonly answering: Answering<Request, Response>,
    private readonly maxUnanswered: number,
    private readonly observer: StreamObserver,
    private readonly onFinished: () => void,
  ) {}

  start(): void {
    this.call.on('data', (request: Request | MalformedRequest) => this.onRequest(request));
    this.call.on('end', () => {
      this.inputEnded = true;
      this.finishIfDone();
    });
    this.call.on('cancelled', () => this.finish(Status.CANCELLED, 'cancelled by the client', false));
    this.call.on('drain', () => {
      this.writeBlocked = false;
      this.updateFlow();
    });
  }

  /** Ends the stream with `code` once the answers owed are sent; reads nothing more. */
  end(code: Status, message: string): void {
    if (this.finished || this.ending !== undefined) return;
    this.ending = { code, message };
    this.call.pause();
    this.paused = true;
    this.finishIfDone();
  }

  private onRequest(request: Request | MalformedRequest): void {
    if (this.finished || this.ending !== undefined) return;
    this.observer.received();
    const answer =
      request instanceof MalformedRequest
        ? ({ ok: false, code: Status.INVALID_ARGUMENT, message: `cannot decode the request: ${request.reason}` } as const)
        : this.answering(request, remainingMs(this.call));
    if (!(answer instanceof Promise) && this.queue.length === 0) {
      this.send(answer);
    } else {
      const slot: Slot<Response> = { answer: answer instanceof Promise ? undefined : answer };
      this.queue.push(slot);
      if (answer instanceof Promise) {
        void answer.then((settled) => {
          slot.answer = settled;
          this.flush();
        });
      }
    }
    this.updateFlow();
  }

  /** Sends the answers at the head of the queue that are ready. */
  private flush(): void {
    while (!this.finished) {
      const head = this.queue[0];
      if (head?.answer === undefined) break;
      this.queue.shift();
      this.send(head.answer);
    }
    this.updateFlow();
    this.finishIfDone();
  }

  private send(answer: Answer<Response>): void {
    if (this.finished) return;
    const message: StreamAnswer<Response> = answer.ok
      ? { response: answer.response, code: Status.OK, message: '' }
      : { response: null, code: answer.code, message: answer.message };
    if (!this.call.write(message)) this.writeBlocked = true;
    this.observer.sent();
  }

  /** Reads only while the client takes its answers and not too many are owed. */
  private updateFlow(): void {
    if (this.finished || this.ending !== undefined) return;
    const hold = this.writeBlocked || this.queue.length >= this.maxUnanswered;
    if (hold && !this.paused) {
      this.paused = true;
      this.call.pause();
    } else if (!hold && this.paused) {
      this.paused = false;
      this.call.resume();
    }
  }

  private finishIfDone(): void {
    if (this.finished || this.queue.length > 0) return;
    if (this.ending !== undefined) this.finish(this.ending.code, this.ending.message, true);
    else if (this.inputEnded) this.finish(Status.OK, '', true);
  }

  private finish(code: Status, message: string, sendStatus: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.queue.length = 0;
    this.observer.finished(code);
    this.onFinished();
    if (!sendStatus) return;
    if (code === Status.OK) this.call.end();
    else this.call.emit('error', { code, details: message });
  }
}
