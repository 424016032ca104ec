import { constants as http2, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';

import { status as Status } from '@grpc/grpc-js';

import { notGrpcAnswer, PREFIX_BYTES, statusIn, transportStatus, type CallStatus } from './grpc-wire.js';

/** What a unary call came to: the answer's bytes, or how it failed. Never an exception. */
export type UnaryResult = { readonly ok: true; readonly message: Buffer } | ({ readonly ok: false } & CallStatus);

/** One unary call's state on its node:http2 stream: collects the answer and settles exactly once. */
export class UnaryCall {
  private readonly chunks: Buffer[] = [];
  private receivedBytes = 0;
  private status: CallStatus | undefined;
  private settled = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly stream: ClientHttp2Stream,
    private readonly maxResponseBytes: number,
    timeoutMs: number,
    private readonly resolve: (result: UnaryResult) => void,
    /** Called when the deadline passes with no answer: the connection may be dead. */
    onDeadline: () => void = () => undefined,
  ) {
    this.timer = setTimeout(() => {
      this.settle(failure(transportStatus(Status.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`)));
      stream.close(http2.NGHTTP2_CANCEL);
      onDeadline();
    }, timeoutMs);
    stream.on('response', (headers) => this.onHeaders(headers));
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('trailers', (trailers) => this.readStatus(trailers));
    stream.on('error', (error: Error) => this.settle(failure(transportStatus(Status.UNAVAILABLE, error.message))));
    stream.on('close', () => this.onClose());
  }

  send(requestFrame: Buffer): void {
    this.stream.end(requestFrame);
  }

  private onHeaders(headers: IncomingHttpHeaders): void {
    const problem = notGrpcAnswer(headers);
    if (problem !== undefined) {
      this.settle(failure(problem));
      this.stream.close(http2.NGHTTP2_CANCEL);
      return;
    }
    // A "trailers-only" answer (how servers send most errors) carries the status in the headers.
    this.readStatus(headers);
  }

  private onData(chunk: Buffer): void {
    this.receivedBytes += chunk.length;
    if (this.receivedBytes > this.maxResponseBytes + PREFIX_BYTES) {
      this.settle(failure(transportStatus(Status.RESOURCE_EXHAUSTED, `answer larger than ${this.maxResponseBytes} bytes`)));
      this.stream.close(http2.NGHTTP2_CANCEL);
      return;
    }
    this.chunks.push(chunk);
  }

  private readStatus(headers: IncomingHttpHeaders): void {
    this.status ??= statusIn(headers);
  }

  private onClose(): void {
    if (this.status === undefined) {
      this.settle(failure(transportStatus(Status.UNAVAILABLE, 'the connection closed before the server sent a status')));
      return;
    }
    if (this.status.code !== Status.OK) {
      this.settle(failure(this.status));
      return;
    }
    const body = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    const length = body.length >= PREFIX_BYTES ? body.readUInt32BE(1) : -1;
    if (length < 0 || body.length !== PREFIX_BYTES + length) {
      this.settle(failure({ code: Status.INTERNAL, details: 'the answer is not exactly one gRPC message', fromServer: true }));
    } else if (body[0] !== 0) {
      this.settle(failure({ code: Status.INTERNAL, details: 'the answer is compressed, which was not asked for', fromServer: true }));
    } else {
      this.settle({ ok: true, message: body.subarray(PREFIX_BYTES) });
    }
  }

  private settle(result: UnaryResult): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.resolve(result);
  }
}

function failure(status: CallStatus): UnaryResult {
  return { ok: false, ...status };
}
