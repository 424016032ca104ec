import { status as Status } from '@grpc/grpc-js';

import { MalformedRequest } from '../common/grpc-request-framing.js';
import type { ResolveReason } from '../common/resolve-reasons.js';
import { NO_LEDGER, type CallLedger, type ReleasableLedger } from './load/call-ledger.js';

/**
 * Unanswered requests one stream may hold (answers waiting for a Service's
 * first list, or written but not yet taken by the client) before the server
 * stops reading from it. HTTP/2 flow control then slows the client down; the
 * stream is never ended for sending too fast.
 */
export const MAX_UNANSWERED_PER_STREAM = 64;

/** What one Resolve comes to: a response, or a gRPC status with a message and a reason for programs. */
export type Answer<Response> =
  | { readonly ok: true; readonly response: Response }
  | { readonly ok: false; readonly code: Status; readonly message: string; readonly reason: ResolveReason };

/**
 * Answers one request; synchronous when it can be (the cache hit), a promise
 * when it waits (a Service's first list). The promise never rejects. `ledger`
 * holds the calls handed to this client (its stream's, or unary Resolve's).
 */
export type Answering<Request, Response> = (
  request: Request,
  waitLimitMs: number,
  ledger: CallLedger,
) => Answer<Response> | Promise<Answer<Response>>;

/** The answer to a request that could not be decoded or was cut short. */
export function malformedAnswer(request: MalformedRequest): Answer<never> {
  return { ok: false, code: Status.INVALID_ARGUMENT, message: request.reason, reason: 'MALFORMED_REQUEST' };
}

/** ResolveStreamResponse: one per request, in request order. */
export interface StreamAnswer<Response> {
  response: Response | null;
  code: number;
  message: string;
  /** A ResolveReason when code is not 0, else empty. */
  reason: string;
}

/** The bounds of a server's ResolveStreams (README "Limits"). */
export interface ResolveStreamsOptions {
  /** Streams open at once; the next one ends at once with RESOURCE_EXHAUSTED. */
  readonly maxStreams: number;
  /** A stream with no request for this long is ended with DEADLINE_EXCEEDED. */
  readonly idleMs: number;
  /** Unanswered requests per stream before the server stops reading it. */
  readonly maxUnansweredPerStream?: number | undefined;
  readonly now?: (() => number) | undefined;
  /** Called for each stream refused for maxStreams. */
  readonly onRefused?: () => void;
  /** A ledger per stream for the calls it is handed; released when the stream ends. None kept when not given. */
  readonly openLedger?: () => ReleasableLedger;
}

/** A place in the answer order, filled when its answer is known. */
interface Slot<Response> {
  answer: Answer<Response> | undefined;
}

/**
 * Every open ResolveStream of a server: at most `maxStreams`, each ended once
 * idle for `idleMs`, and all ended at shutdown. Each stream answers in
 * request order through a queue: an answer that is ready while an earlier
 * one still waits is held until the earlier one is sent.
 */
export class ResolveStreams<Request, Response> {
  private readonly sessions = new Set<ResolveStreamSession<Request, Response>>();
  private ending: { readonly code: Status; readonly message: string } | undefined;
  private readonly now: () => number;
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(
    private readonly answering: Answering<Request, Response>,
    private readonly options: ResolveStreamsOptions,
  ) {
    this.now = options.now ?? Date.now;
    const sweepEveryMs = Math.max(1_000, Math.min(60_000, Math.floor(options.idleMs / 4)));
    this.sweepTimer = setInterval(() => this.sweepIdle(), sweepEveryMs);
    this.sweepTimer.unref();
  }

  /** How many streams are open now. */
  get size(): number {
    return this.sessions.size;
  }

  /**
   * A new stream, answering through `sink`: its transport hands the session
   * its requests and events. Refused at once (RESOURCE_EXHAUSTED) over
   * `maxStreams`, ended at once while the server shuts down.
   */
  open(sink: AnswerSink<Response>): ResolveStreamSession<Request, Response> {
    const session = new ResolveStreamSession(sink, this.answering, this.options.maxUnansweredPerStream ?? MAX_UNANSWERED_PER_STREAM, {
      now: this.now,
      ledger: this.options.openLedger?.() ?? NO_LEDGER,
      onFinished: () => this.sessions.delete(session),
    });
    if (this.ending !== undefined) {
      session.end(this.ending.code, this.ending.message);
    } else if (this.sessions.size >= this.options.maxStreams) {
      this.options.onRefused?.();
      session.end(Status.RESOURCE_EXHAUSTED, `the server has ${this.sessions.size} ResolveStreams open, its limit (MAX_RESOLVE_STREAMS); retry later`);
    } else {
      this.sessions.add(session);
    }
    return session;
  }

  /** Ends every stream that has sent no request for `idleMs`. */
  sweepIdle(): void {
    const oldestAllowedMs = this.now() - this.options.idleMs;
    const message = `no request for ${Math.round(this.options.idleMs / 1000)} s (RESOLVE_STREAM_IDLE_SECONDS); open a new stream when you need one`;
    for (const session of this.sessions) if (session.lastRequestMs < oldestAllowedMs) session.end(Status.DEADLINE_EXCEEDED, message);
  }

  /**
   * Stops reading from every open stream (and from any that still opens),
   * sends the answers already owed, then ends each with `code`.
   */
  endAll(code: Status, message: string): void {
    this.ending = { code, message };
    clearInterval(this.sweepTimer);
    for (const session of this.sessions) session.end(code, message);
  }
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
