import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';

import { status as Status } from '@grpc/grpc-js';

import { checkRequestHeaders, OK_TRAILERS, parseGrpcTimeoutMs, RESPONSE_HEADERS, statusTrailers } from './grpc-h2-headers.js';
import { MessageReader, type MessageListener } from './grpc-message-reader.js';
import type { MethodCounters } from './grpc-metrics.js';
import { PREFIX_BYTES } from './grpc-request-framing.js';

/**
 * One gRPC call served straight on its node:http2 stream (the lean Resolve
 * handlers): request checks, deadline, framing, batched writes, status,
 * and how it ended for the metrics. Hand-written rather than grpc-js
 * because grpc-js's per-call machinery cost ~120 µs of a ~137 µs unary
 * Resolve (issue #14); a subclass says what the call does with its messages.
 */

/** Where a call takes its place among the server's open calls (a CallGuard). */
export interface CallSlots {
  /** A slot, or the refusal to answer with when none is free. */
  acquire(): { readonly code: Status; readonly details: string } | undefined;
  release(): void;
}

/** What every call of one method shares. */
export interface H2MethodContext {
  readonly slots: CallSlots;
  readonly counters: MethodCounters;
  readonly maxRequestBytes: number;
}

/** A method's messages: proto-loader's decoder and encoder, or cheaper ones that give the same objects and bytes. */
export interface MessageCodec<Request, Response> {
  /** Throws when the bytes are not a request. */
  decode(bytes: Buffer): Request;
  encode(response: Response): Uint8Array;
}

/** Response options, made once: gRPC needs no `date` header (node adds one unless told not to). */
const WITH_TRAILERS = Object.freeze({ waitForTrailers: true, sendDate: false });
const TRAILERS_ONLY = Object.freeze({ endStream: true, sendDate: false });

/** grpc-js's deadline timer may fire a little before Date.now() reaches the deadline; so may ours. */
const DEADLINE_SLACK_MS = 5;

/**
 * Checks a new stream's headers and takes a slot for its call: the call's
 * deadline (Date.now() ms, Infinity without grpc-timeout), or undefined when
 * the stream was answered with a refusal (counted nowhere but in the slots'
 * own refusal count, as grpc-js's interceptor did).
 */
export function admitCall(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, context: H2MethodContext): number | undefined {
  stream.on('error', ignoreError);
  const bad = checkRequestHeaders(headers);
  if (bad !== undefined) {
    refuse(stream, { ...statusTrailers(bad.code, bad.message, undefined, true), ...bad.headers, [constants.HTTP2_HEADER_STATUS]: bad.httpStatus });
    return undefined;
  }
  const timeoutMs = parseGrpcTimeoutMs(headers['grpc-timeout']);
  if (timeoutMs === undefined) {
    refuse(stream, statusTrailers(Status.OUT_OF_RANGE, `Invalid grpc-timeout value: ${String(headers['grpc-timeout'])}`, undefined, true));
    return undefined;
  }
  const refusal = context.slots.acquire();
  if (refusal !== undefined) {
    refuse(stream, statusTrailers(refusal.code, refusal.details, undefined, true));
    return undefined;
  }
  return Number.isFinite(timeoutMs) ? Date.now() + timeoutMs : Number.POSITIVE_INFINITY;
}

function refuse(stream: ServerHttp2Stream, headers: OutgoingHttpHeaders): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond(headers, TRAILERS_ONLY);
  stopClientSending(stream);
}

/**
 * A client still sending after a trailers-only status would keep the stream
 * open, holding memory and a place in the connection's max concurrent
 * streams: reset it with NO_ERROR behind the status, as grpc-go does. Only
 * behind a trailers-only status: a reset can overtake trailers that follow messages.
 */
function stopClientSending(stream: ServerHttp2Stream): void {
  if (!stream.closed && !stream.readableEnded) stream.close(constants.NGHTTP2_NO_ERROR);
}

const CALL = Symbol('grpcH2Call');
type CallStream = ServerHttp2Stream & { [CALL]: H2Call };

/** A call on its stream, once admitted. Listeners are shared functions that find the call on its stream: no closures per call. */
export abstract class H2Call implements MessageListener {
  private readonly startedAtMs = performance.now();
  private readonly reader: MessageReader;
  /** The status sent (or, for a call that ended without one, how it ended); undefined while the call runs. */
  protected status: Status | undefined;
  private trailers: OutgoingHttpHeaders = OK_TRAILERS;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private waitsForDrain = false;

  constructor(
    protected readonly stream: ServerHttp2Stream,
    protected readonly deadlineMs: number,
    protected readonly context: H2MethodContext,
    encoding: string | undefined,
  ) {
    this.reader = new MessageReader(context.maxRequestBytes, encoding);
    context.counters.started.inc();
    (stream as CallStream)[CALL] = this;
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onClose);
  }

  /** A whole request message (see MessageListener). */
  abstract onMessage(bytes: Buffer): void;
  /** The client half-closed; `cutShort` says why its last message is incomplete, if it is. */
  protected abstract onInputEnd(cutShort: string | undefined): void;
  /** The stream closed before the call's status: the client cancelled (or its deadline passed, or the connection went). */
  protected abstract onCancelled(code: Status): void;
  /** Every message of one DATA chunk was handed to onMessage. */
  protected afterChunk(): void {}
  /** The stream took its buffered answers (after a write that said wait). */
  protected onDrain(): void {}

  onUnreadable(code: Status, message: string): void {
    this.sendStatus(code, message, undefined);
  }

  /** Milliseconds left before the deadline; Infinity without one. */
  remainingMs(): number {
    return this.deadlineMs === Number.POSITIVE_INFINITY ? this.deadlineMs : this.deadlineMs - Date.now();
  }

  get ended(): boolean {
    return this.status !== undefined;
  }

  /** Adds an encoded response message to the next write. */
  protected queueMessage(bytes: Uint8Array): void {
    this.pending.push(bytes);
    this.pendingBytes += PREFIX_BYTES + bytes.length;
  }

  /** Writes the queued messages, together, in one write; false when the stream asks the writer to wait for 'drain'. */
  protected flushWrites(): boolean {
    const out = this.takeQueued();
    if (out === undefined || this.stream.destroyed) return true;
    if (!this.stream.headersSent) this.stream.respond(RESPONSE_HEADERS, WITH_TRAILERS);
    if (this.stream.write(out)) return true;
    if (!this.waitsForDrain) {
      this.waitsForDrain = true;
      this.stream.on('drain', onDrain);
    }
    return false;
  }

  /** The queued messages framed in one buffer, or undefined when none is queued. */
  private takeQueued(): Buffer | undefined {
    const count = this.pending.length;
    if (count === 0) return undefined;
    const out = Buffer.allocUnsafe(this.pendingBytes);
    let offset = 0;
    for (let i = 0; i < count; i += 1) {
      const message = this.pending[i] as Uint8Array;
      out[offset] = 0;
      out.writeUInt32BE(message.length, offset + 1);
      out.set(message, offset + PREFIX_BYTES);
      offset += PREFIX_BYTES + message.length;
    }
    this.pending.length = 0;
    this.pendingBytes = 0;
    return out;
  }

  /**
   * Ends the call with a status, after the messages queued: trailers-only
   * when nothing was sent. `details` goes in grpc-status-details-bin.
   */
  protected sendStatus(code: Status, message: string, details: Buffer | undefined): void {
    if (this.status !== undefined) return;
    this.status = code;
    const stream = this.stream;
    if (stream.destroyed) return;
    if (!stream.headersSent && this.pending.length === 0) {
      stream.respond(statusTrailers(code, message, details, true), TRAILERS_ONLY);
      // A unary call answered before its request ended (a second message, too big): stop the client.
      if (code !== Status.OK) stopClientSending(stream);
      return;
    }
    if (code !== Status.OK || message !== '' || details !== undefined) this.trailers = statusTrailers(code, message, details, false);
    // wantTrailers comes once per stream: `on` spares the wrapper `once` allocates.
    stream.on('wantTrailers', onWantTrailers);
    const last = this.takeQueued();
    if (last === undefined) {
      stream.end();
      return;
    }
    if (!stream.headersSent) stream.respond(RESPONSE_HEADERS, WITH_TRAILERS);
    stream.end(last);
  }

  /** How a call that ends without its status ended: past its deadline, or cancelled. */
  private cancelledCode(): Status {
    return this.remainingMs() <= DEADLINE_SLACK_MS ? Status.DEADLINE_EXCEEDED : Status.CANCELLED;
  }

  /** @internal stream listeners */
  static data(call: H2Call, chunk: Buffer): void {
    if (call.status !== undefined) return;
    call.reader.push(chunk, call);
    if (call.status === undefined) call.afterChunk();
  }

  static end(call: H2Call): void {
    // A reset stream reports an end of input before it closes: the close says what happened.
    if (call.status !== undefined || call.stream.closed) return;
    call.onInputEnd(call.reader.cutShort());
  }

  static close(call: H2Call): void {
    call.context.slots.release();
    const rstCode = call.stream.rstCode;
    const reset = rstCode !== undefined && rstCode !== constants.NGHTTP2_NO_ERROR;
    let code = call.status;
    if (code === undefined) {
      code = call.cancelledCode();
      call.status = code;
      call.onCancelled(code);
    } else if (reset) {
      // Reset after the status was queued: the client never took it.
      code = call.cancelledCode();
    }
    call.context.counters.handled(code, call.startedAtMs);
  }

  static wantTrailers(call: H2Call): void {
    call.stream.sendTrailers(call.trailers);
  }

  static drain(call: H2Call): void {
    if (call.status === undefined) call.onDrain();
  }
}

function onData(this: CallStream, chunk: Buffer): void {
  H2Call.data(this[CALL], chunk);
}
function onEnd(this: CallStream): void {
  H2Call.end(this[CALL]);
}
function onClose(this: CallStream): void {
  H2Call.close(this[CALL]);
}
function onWantTrailers(this: CallStream): void {
  H2Call.wantTrailers(this[CALL]);
}
function onDrain(this: CallStream): void {
  H2Call.drain(this[CALL]);
}
function ignoreError(): void {}
