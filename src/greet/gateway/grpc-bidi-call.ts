import { constants as http2, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';

import { status as Status } from '@grpc/grpc-js';

import { MessageReader, notGrpcAnswer, statusIn, transportStatus, type CallStatus } from './grpc-wire.js';

/** What a bidi call tells its owner. */
export interface BidiHandlers {
  /** One whole message from the server, prefix removed. */
  message(bytes: Buffer): void;
  /** How the call ended; called once, and no message follows it. */
  end(status: CallStatus): void;
}

/** The sending side of a bidi call. */
export interface BidiStream {
  /** Sends one framed message. */
  write(frame: Buffer): void;
  /** Ends the call from this side; `end` is reported as CANCELLED, on the next tick. */
  cancel(): void;
  /**
   * Cancels the call and drops the connection it runs on, at once: for a
   * call that stopped answering, whose connection is likely dead (the next
   * call must not be opened on it). `reason` is for the log.
   */
  cancelWithConnection(reason: string): void;
}

/**
 * A bidi-streaming gRPC call on one node:http2 stream. Messages written in the
 * same tick leave together, in one DATA frame and one socket write: grpc-js
 * sends each message of a stream on its own and waits for it to be flushed
 * before the next, which under load costs one syscall per message.
 */
export class BidiCall implements BidiStream {
  private readonly reader: MessageReader;
  private readonly onMessage: (bytes: Buffer) => void;
  private status: CallStatus | undefined;
  private ended = false;
  private corked = false;

  constructor(
    private readonly stream: ClientHttp2Stream,
    maxMessageBytes: number,
    private readonly handlers: BidiHandlers,
    /** Drops the connection under this stream (GrpcHttp2Client's). */
    private readonly dropConnection: (reason: string) => void = () => undefined,
  ) {
    this.reader = new MessageReader(maxMessageBytes);
    this.onMessage = (bytes) => handlers.message(bytes);
    stream.on('response', (headers) => this.onHeaders(headers));
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('trailers', (trailers) => this.readStatus(trailers));
    // The server's side ended (its status came in trailers): the call is over, though ours is still open.
    stream.on('end', () => {
      this.finish(this.finalStatus());
      if (!stream.closed) stream.close();
    });
    stream.on('error', (error: Error) => this.finish(transportStatus(Status.UNAVAILABLE, error.message)));
    stream.on('close', () => this.finish(this.finalStatus()));
  }

  write(frame: Buffer): void {
    if (this.ended) return;
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(uncork, this);
    }
    this.stream.write(frame);
  }

  cancel(): void {
    if (this.ended) return;
    // The owner hears of it on the next tick, never from inside its own call to cancel().
    this.ended = true;
    process.nextTick(() => this.handlers.end(transportStatus(Status.CANCELLED, 'cancelled by the client')));
    if (!this.stream.closed) this.stream.close(http2.NGHTTP2_CANCEL);
  }

  cancelWithConnection(reason: string): void {
    this.cancel();
    this.dropConnection(reason);
  }

  /** Called by the tick after the first write: everything written since goes out at once. */
  flush(): void {
    this.corked = false;
    this.stream.uncork();
  }

  private onHeaders(headers: IncomingHttpHeaders): void {
    const problem = notGrpcAnswer(headers);
    if (problem !== undefined) {
      this.abort(problem);
      return;
    }
    // A "trailers-only" answer (how servers send most errors) carries the status in the headers.
    this.readStatus(headers);
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    const problem = this.reader.push(chunk, this.onMessage);
    if (problem !== undefined) this.abort(transportStatus(Status.INTERNAL, problem));
  }

  private readStatus(headers: IncomingHttpHeaders): void {
    this.status ??= statusIn(headers);
  }

  private finalStatus(): CallStatus {
    if (this.status === undefined) return transportStatus(Status.UNAVAILABLE, 'the stream closed before the server sent a status');
    if (this.status.code === Status.OK && this.reader.partialBytes > 0) {
      return { code: Status.INTERNAL, details: 'the server ended the stream inside a message', fromServer: true };
    }
    return this.status;
  }

  private abort(status: CallStatus): void {
    this.finish(status);
    if (!this.stream.closed) this.stream.close(http2.NGHTTP2_CANCEL);
  }

  private finish(status: CallStatus): void {
    if (this.ended) return;
    this.ended = true;
    this.handlers.end(status);
  }
}

function uncork(call: BidiCall): void {
  call.flush();
}
