import { status as Status } from '@grpc/grpc-js';

import { NO_LEDGER, type ReleasableLedger } from './load/call-ledger.js';
import type { Answering } from './resolve-answers.js';
import { ResolveStreamSession, type AnswerSink } from './resolve-stream-session.js';

export { malformedAnswer, type Answer, type Answering, type StreamAnswer } from './resolve-answers.js';
export type { AnswerSink, ResolveStreamSession } from './resolve-stream-session.js';

/**
 * Unanswered requests one stream may hold (answers waiting for a Service's
 * first list, or written but not yet taken by the client) before the server
 * stops reading from it. HTTP/2 flow control then slows the client down; the
 * stream is never ended for sending too fast.
 */
export const MAX_UNANSWERED_PER_STREAM = 64;

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
