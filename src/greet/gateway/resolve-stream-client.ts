import { status as Status } from '@grpc/grpc-js';

import type { BidiHandlers, BidiStream } from './grpc-bidi-call.js';
import type { CallStatus } from './grpc-wire.js';

/** The first wait before reopening a stream that failed; doubled on each failure in a row. */
export const STREAM_REOPEN_BACKOFF_INITIAL_MS = 100;
/** The longest wait before reopening, so a down lookaside is asked about twice a second at most. */
export const STREAM_REOPEN_BACKOFF_MAX_MS = 2_000;
/**
 * A stream whose oldest request has had no answer for this many deadlines is
 * stuck (answers come in order, so nothing behind it can arrive): it is
 * cancelled with its connection (the lookaside answers from memory, so a
 * silence this long means the connection is most likely dead), and the next
 * request opens a new stream on a new connection.
 */
const STUCK_AFTER_DEADLINES = 2;

/** lookaside.v1.ResolveStreamResponse as proto-loader decodes it (keepCase, defaults). */
export interface StreamAnswer<Response> {
  readonly response: Response | null;
  readonly code: number;
  readonly message: string;
  /** Why, for programs (a ResolveReason); '' on OK answers and from lookasides too old to send one. */
  readonly reason: string;
}

/** What one request on the stream came to. Never an exception. */
export type StreamResult<Response> =
  | { readonly kind: 'answer'; readonly answer: StreamAnswer<Response> }
  /** No answer: the stream failed, ended, or was too slow. */
  | { readonly kind: 'unreachable'; readonly code: Status; readonly message: string }
  /** The lookaside does not know ResolveStream (an older version): use unary Resolve. */
  | { readonly kind: 'unimplemented' };

export interface ResolveStreamClientOptions<Response> {
  /** Opens a new ResolveStream to the lookaside. */
  readonly open: (handlers: BidiHandlers) => BidiStream;
  /** The request, serialized and framed once, sent when resolve() is given none. */
  readonly requestFrame: Buffer;
  readonly deserialize: (bytes: Buffer) => StreamAnswer<Response>;
  /** Per-request deadline. */
  readonly timeoutMs: number;
  readonly now?: () => number;
  /**
   * The answer to a request that already failed for its deadline. The
   * lookaside counted what it picked as a call handed out; the caller tells it
   * no call was made, or that call stays outstanding until the stream ends.
   */
  readonly onLateAnswer?: (answer: StreamAnswer<Response>) => void;
}

interface Pending<Response> {
  readonly sentAtMs: number;
  readonly settle: (result: StreamResult<Response>) => void;
  /** Failed for its deadline; its answer, when it comes, is dropped. */
  expired: boolean;
}

/**
 * Resolves over one long-lived ResolveStream: each resolve() writes the same
 * request, and answers are matched to requests first in, first out (the
 * server answers in request order). A request with no answer by its deadline
 * fails as unreachable; a stream that stops answering is cancelled, and its
 * connection dropped; a stream that ends or fails fails every pending request
 * as unreachable, and the next resolve() opens a new one after a short,
 * growing backoff.
 */
export class ResolveStreamClient<Response> {
  private call: BidiStream | undefined;
  /** Requests written and not yet answered, oldest first, expired ones included (they keep the order). */
  private pending: Pending<Response>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reopenBackoffMs = STREAM_REOPEN_BACKOFF_INITIAL_MS;
  private reopenAtMs = 0;
  /** Why the last stream was dropped, for the answers given while waiting to reopen. */
  private dropReason = '';
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: ResolveStreamClientOptions<Response>) {
    this.now = options.now ?? Date.now;
  }

  /** Whether a stream is open now (not whether the next request will be answered). */
  get open(): boolean {
    return this.call !== undefined;
  }

  /** Sends `frame` (a framed ResolveRequest; the fixed one when not given) and waits for its answer. */
  resolve(frame: Buffer = this.options.requestFrame): Promise<StreamResult<Response>> {
    if (this.closed) return Promise.resolve(unreachable(Status.UNAVAILABLE, 'the client is closed'));
    const nowMs = this.now();
    if (this.call === undefined && nowMs < this.reopenAtMs) {
      return Promise.resolve(
        unreachable(Status.UNAVAILABLE, `${this.dropReason}; reopening in ${Math.ceil(this.reopenAtMs - nowMs)} ms`),
      );
    }
    const call = this.call ?? this.openStream();
    return new Promise((settle) => {
      this.pending.push({ sentAtMs: nowMs, settle, expired: false });
      call.write(frame);
      if (this.timer === undefined) this.armTimer(nowMs + this.options.timeoutMs);
    });
  }

  /** Cancels the stream; pending requests fail as unreachable. */
  close(): void {
    this.closed = true;
    this.dropStream(Status.UNAVAILABLE, 'the client is closed');
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private openStream(): BidiStream {
    const call: BidiStream = this.options.open({
      message: (bytes) => this.onMessage(call, bytes),
      end: (status) => this.onEnd(call, status),
    });
    this.call = call;
    return call;
  }

  private onMessage(call: BidiStream, bytes: Buffer): void {
    if (call !== this.call) return;
    let answer: StreamAnswer<Response>;
    try {
      answer = this.options.deserialize(bytes);
    } catch (error) {
      this.dropStream(Status.INTERNAL, `cannot decode a ResolveStream answer: ${(error as Error).message}`);
      return;
    }
    const head = this.pending.shift();
    if (head === undefined) {
      this.dropStream(Status.INTERNAL, 'the lookaside sent more answers than requests');
      return;
    }
    this.reopenBackoffMs = STREAM_REOPEN_BACKOFF_INITIAL_MS;
    if (head.expired) this.options.onLateAnswer?.(answer);
    else head.settle({ kind: 'answer', answer });
  }

  private onEnd(call: BidiStream, status: CallStatus): void {
    if (call !== this.call) return;
    if (status.code === Status.UNIMPLEMENTED && status.fromServer) {
      this.call = undefined;
      this.failPending({ kind: 'unimplemented' });
      return;
    }
    if (status.fromServer && !this.pending.some((entry) => !entry.expired)) {
      // The lookaside ended a stream that owed nothing (its idle limit, say): nothing
      // was lost and nothing says it is unwell, so the next request opens one at once.
      this.call = undefined;
      this.pending = [];
      return;
    }
    const why = status.code === Status.OK ? 'the lookaside ended ResolveStream' : `ResolveStream failed: ${status.details}`;
    this.dropStream(status.code === Status.OK ? Status.UNAVAILABLE : status.code, why);
  }

  /**
   * Forgets the stream (cancelling it if still open, with its connection when
   * `withConnection`), fails what is pending, and backs off reopening.
   */
  private dropStream(code: Status, message: string, withConnection = false): void {
    const call = this.call;
    if (call === undefined) return;
    this.call = undefined;
    if (withConnection) call.cancelWithConnection(message);
    else call.cancel();
    this.failPending(unreachable(code, message));
    this.dropReason = message;
    this.reopenAtMs = this.now() + this.reopenBackoffMs;
    this.reopenBackoffMs = Math.min(this.reopenBackoffMs * 2, STREAM_REOPEN_BACKOFF_MAX_MS);
  }

  private failPending(result: StreamResult<Response>): void {
    const pending = this.pending;
    this.pending = [];
    for (const entry of pending) if (!entry.expired) entry.settle(result);
  }

  /** One timer for every pending request: they share the timeout, so the oldest expires first. */
  private armTimer(atMs: number): void {
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, atMs - this.now()));
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = undefined;
    const nowMs = this.now();
    const timeoutMs = this.options.timeoutMs;
    const oldest = this.pending[0];
    if (oldest !== undefined && nowMs - oldest.sentAtMs >= STUCK_AFTER_DEADLINES * timeoutMs) {
      const silentMs = nowMs - oldest.sentAtMs;
      this.dropStream(Status.DEADLINE_EXCEEDED, `ResolveStream gave no answer for ${silentMs} ms; reopening it on a new connection`, true);
    }
    let nextAtMs = Number.POSITIVE_INFINITY;
    for (const entry of this.pending) {
      if (entry.expired) continue;
      if (nowMs - entry.sentAtMs < timeoutMs) {
        nextAtMs = entry.sentAtMs + timeoutMs;
        break;
      }
      entry.expired = true;
      entry.settle(unreachable(Status.DEADLINE_EXCEEDED, `no answer from the lookaside within ${timeoutMs} ms`));
    }
    const head = this.pending[0];
    if (head !== undefined) nextAtMs = Math.min(nextAtMs, head.sentAtMs + STUCK_AFTER_DEADLINES * timeoutMs);
    if (Number.isFinite(nextAtMs)) this.armTimer(nextAtMs);
  }
}

function unreachable(code: Status, message: string): StreamResult<never> {
  return { kind: 'unreachable', code, message };
}
