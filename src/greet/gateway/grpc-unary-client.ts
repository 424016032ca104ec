import {
  connect,
  constants as http2,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';

import { status as Status } from '@grpc/grpc-js';

/**
 * A minimal gRPC client for one unary method on one server, straight over
 * node:http2. It exists because the gateway makes one Resolve call per
 * request: grpc-js spends about twice the CPU per call (resolver, load
 * balancer, filter and retry layers, channelz) on features a single fixed
 * connection to the lookaside does not need. Greet calls keep using grpc-js.
 *
 * It also tells, for every failure, whether the server sent it (a
 * `grpc-status` arrived) or the transport did, which grpc-js does not.
 */

export type UnaryResult =
  | { readonly ok: true; readonly message: Buffer }
  | {
      readonly ok: false;
      readonly code: Status;
      readonly details: string;
      /** True when the server answered with this status; false for transport failures and timeouts. */
      readonly fromServer: boolean;
    };

export interface UnaryClientOptions {
  /** `host:port`; IPv6 as `[addr]:port`. */
  readonly authority: string;
  /** Answers larger than this fail with RESOURCE_EXHAUSTED. */
  readonly maxResponseBytes: number;
}

/** gRPC's 5-byte message prefix: compressed flag, then the length, big-endian. */
const PREFIX_BYTES = 5;

/** Frames one serialized message for the wire: done once for a request that never changes. */
export function frameMessage(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(PREFIX_BYTES + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, PREFIX_BYTES);
  return frame;
}

export class GrpcUnaryClient {
  private session: ClientHttp2Session | undefined;
  private closed = false;

  constructor(private readonly options: UnaryClientOptions) {}

  /** Whether a connection is up now (not whether the next call will work). */
  get connected(): boolean {
    return this.session !== undefined && !this.session.connecting && !this.session.destroyed;
  }

  /**
   * Calls `path` with an already framed request. Never rejects. The deadline
   * is sent to the server (`grpc-timeout`) and enforced here.
   */
  call(path: string, requestFrame: Buffer, timeoutMs: number): Promise<UnaryResult> {
    if (this.closed) return Promise.resolve(transportFailure(Status.UNAVAILABLE, 'the client is closed'));
    let stream: ClientHttp2Stream;
    try {
      stream = this.currentSession().request(requestHeaders(path, timeoutMs), { endStream: false });
    } catch (error) {
      // request() throws synchronously when the session is already going away.
      this.dropSession();
      return Promise.resolve(transportFailure(Status.UNAVAILABLE, (error as Error).message));
    }
    return new Promise((resolve) => new UnaryCall(stream, this.options.maxResponseBytes, timeoutMs, resolve).send(requestFrame));
  }

  close(): void {
    this.closed = true;
    this.dropSession();
  }

  private currentSession(): ClientHttp2Session {
    if (this.session !== undefined && !this.session.closed && !this.session.destroyed) return this.session;
    const session = connect(`http://${this.options.authority}`);
    // Errors reach each open stream too; here they only retire the session, so the next call reconnects.
    session.on('error', () => this.dropSession(session));
    session.on('goaway', () => this.dropSession(session));
    session.on('close', () => this.dropSession(session));
    this.session = session;
    return session;
  }

  /** Forgets the session (the current one, or only `which`) and closes it gracefully. */
  private dropSession(which?: ClientHttp2Session): void {
    const session = this.session;
    if (session === undefined || (which !== undefined && which !== session)) return;
    this.session = undefined;
    if (!session.closed) session.close();
  }
}

function requestHeaders(path: string, timeoutMs: number): OutgoingHttpHeaders {
  return {
    [http2.HTTP2_HEADER_METHOD]: 'POST',
    [http2.HTTP2_HEADER_PATH]: path,
    [http2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
    [http2.HTTP2_HEADER_TE]: 'trailers',
    'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m`,
  };
}

/** One call's state: collects the answer and settles exactly once. */
class UnaryCall {
  private readonly chunks: Buffer[] = [];
  private receivedBytes = 0;
  private status: Status | undefined;
  private details = '';
  private settled = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly stream: ClientHttp2Stream,
    private readonly maxResponseBytes: number,
    timeoutMs: number,
    private readonly resolve: (result: UnaryResult) => void,
  ) {
    this.timer = setTimeout(() => {
      this.settle(transportFailure(Status.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`));
      stream.close(http2.NGHTTP2_CANCEL);
    }, timeoutMs);
    stream.on('response', (headers) => this.onHeaders(headers));
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('trailers', (trailers) => this.readStatus(trailers));
    stream.on('error', (error: Error) => this.settle(transportFailure(Status.UNAVAILABLE, error.message)));
    stream.on('close', () => this.onClose());
  }

  send(requestFrame: Buffer): void {
    this.stream.end(requestFrame);
  }

  private onHeaders(headers: IncomingHttpHeaders): void {
    // Typed as a string, but node:http2 hands over a number.
    const httpStatus = Number(headers[http2.HTTP2_HEADER_STATUS]);
    if (httpStatus !== 200) {
      this.settle(transportFailure(Status.UNAVAILABLE, `HTTP status ${String(httpStatus)} instead of a gRPC answer`));
      this.stream.close(http2.NGHTTP2_CANCEL);
      return;
    }
    // A "trailers-only" answer (how servers send most errors) carries the status in the headers.
    this.readStatus(headers);
  }

  private onData(chunk: Buffer): void {
    this.receivedBytes += chunk.length;
    if (this.receivedBytes > this.maxResponseBytes + PREFIX_BYTES) {
      this.settle(transportFailure(Status.RESOURCE_EXHAUSTED, `answer larger than ${this.maxResponseBytes} bytes`));
      this.stream.close(http2.NGHTTP2_CANCEL);
      return;
    }
    this.chunks.push(chunk);
  }

  private readStatus(headers: IncomingHttpHeaders): void {
    const code = headers['grpc-status'];
    if (code === undefined) return;
    this.status = Number(code) as Status;
    this.details = decodeDetails(headers['grpc-message']);
  }

  private onClose(): void {
    if (this.status === undefined) {
      this.settle(transportFailure(Status.UNAVAILABLE, 'the connection closed before the server sent a status'));
      return;
    }
    if (this.status !== Status.OK) {
      this.settle({ ok: false, code: this.status, details: this.details, fromServer: true });
      return;
    }
    const body = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    const length = body.length >= PREFIX_BYTES ? body.readUInt32BE(1) : -1;
    if (length < 0 || body.length !== PREFIX_BYTES + length) {
      this.settle({ ok: false, code: Status.INTERNAL, details: 'the answer is not exactly one gRPC message', fromServer: true });
    } else if (body[0] !== 0) {
      this.settle({ ok: false, code: Status.INTERNAL, details: 'the answer is compressed, which was not asked for', fromServer: true });
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

function transportFailure(code: Status, details: string): UnaryResult {
  return { ok: false, code, details, fromServer: false };
}

/** grpc-message is percent-encoded; a broken encoding is shown as sent. */
function decodeDetails(raw: string | string[] | undefined): string {
  const text = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
