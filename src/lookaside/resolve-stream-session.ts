import { status as Status } from '@grpc/grpc-js';

import { MalformedRequest } from '../common/grpc-request-framing.js';
import type { ReleasableLedger } from './load/call-ledger.js';
import { malformedAnswer, type Answer, type Answering, type StreamAnswer } from './resolve-answers.js';

/** A place in the answer order, filled when its answer is known. */
interface Slot<Response> {
  answer: Answer<Response> | undefined;
}

/**
 * Where a ResolveStream's answers go: its transport (the HTTP/2 stream). The
 * session queues answers and says when to write them, so answers ready
 * together leave in one write.
 */
export interface AnswerSink<Response> {
  /** Queues one answer for the next write. */
  send(answer: StreamAnswer<Response>): void;
  /** Writes what was queued; false when the client is behind (`drained()` follows once it caught up). */
  flush(): boolean;
  /** Stops reading requests (the client's flow-control window closes). */
  pause(): void;
  resume(): void;
  /** Ends the stream with `code` after what was sent. */
  end(code: Status, message: string): void;
  /** Milliseconds left before the stream's deadline; Infinity without one. */
  remainingMs(): number;
}

interface SessionHooks {
  readonly now: () => number;
  /** The calls handed out on this stream and not yet reported; released when it ends. */
  readonly ledger: ReleasableLedger;
  readonly onFinished: () => void;
}

/**
 * One ResolveStream's answers: in request order, reading only while the
 * client takes them and fewer than `maxUnanswered` are owed. Its transport
 * calls `request` for each request, `sendQueued` once it handed over the
 * requests that arrived together, and reports the stream's end.
 */
export class ResolveStreamSession<Request, Response> {
  /** Answers owed, oldest first; empty in the common case where every answer is immediate. */
  private readonly queue: Slot<Response>[] = [];
  private paused = false;
  private writeBlocked = false;
  private inputEnd = false;
  private ending: { readonly code: Status; readonly message: string } | undefined;
  private finished = false;
  /** When the last request arrived (or the stream opened), for the idle limit. */
  lastRequestMs: number;

  constructor(
    private readonly sink: AnswerSink<Response>,
    private readonly answering: Answering<Request, Response>,
    private readonly maxUnanswered: number,
    private readonly hooks: SessionHooks,
  ) {
    this.lastRequestMs = hooks.now();
  }

  /** Ends the stream with `code` once the answers owed are sent; reads nothing more. */
  end(code: Status, message: string): void {
    if (this.finished || this.ending !== undefined) return;
    this.ending = { code, message };
    this.sink.pause();
    this.paused = true;
    this.finishIfDone();
  }

  /** Ends the stream with `code` now, owing nothing more (a request stream that cannot be read on, a deadline passed). */
  fail(code: Status, message: string): void {
    this.finish(code, message, true);
  }

  /** The client cancelled, or the connection went: nothing more can be sent. */
  cancelled(code: Status): void {
    this.finish(code, '', false);
  }

  /** The client half-closed: the stream ends once every answer is sent. */
  inputEnded(): void {
    this.inputEnd = true;
    this.finishIfDone();
  }

  /** The transport took the answers it held back. */
  drained(): void {
    this.writeBlocked = false;
    this.updateFlow();
  }

  request(request: Request | MalformedRequest): void {
    if (this.finished || this.ending !== undefined) return;
    this.lastRequestMs = this.hooks.now();
    const answer =
      request instanceof MalformedRequest ? malformedAnswer(request) : this.answering(request, this.sink.remainingMs(), this.hooks.ledger);
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

  /** Writes the answers queued since the last write, together. */
  sendQueued(): void {
    if (this.finished) return;
    if (!this.sink.flush()) this.writeBlocked = true;
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
    this.sendQueued();
    this.finishIfDone();
  }

  private send(answer: Answer<Response>): void {
    if (this.finished) return;
    this.sink.send(
      answer.ok
        ? { response: answer.response, code: Status.OK, message: '', reason: '' }
        : { response: null, code: answer.code, message: answer.message, reason: answer.reason },
    );
  }

  /** Reads only while the client takes its answers and not too many are owed. */
  private updateFlow(): void {
    if (this.finished || this.ending !== undefined) return;
    const hold = this.writeBlocked || this.queue.length >= this.maxUnanswered;
    if (hold && !this.paused) {
      this.paused = true;
      this.sink.pause();
    } else if (!hold && this.paused) {
      this.paused = false;
      this.sink.resume();
    }
  }

  private finishIfDone(): void {
    if (this.finished || this.queue.length > 0) return;
    if (this.ending !== undefined) this.finish(this.ending.code, this.ending.message, true);
    else if (this.inputEnd) this.finish(Status.OK, '', true);
  }

  private finish(code: Status, message: string, sendStatus: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.queue.length = 0;
    // Whatever the client was handed and never reported is no longer outstanding.
    this.hooks.ledger.release();
    this.hooks.onFinished();
    if (sendStatus) this.sink.end(code, message);
  }
}
