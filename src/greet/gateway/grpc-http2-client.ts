import {
  connect,
  constants as http2,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type OutgoingHttpHeaders,
  type SecureClientSessionOptions,
} from 'node:http2';

import { status as Status } from '@grpc/grpc-js';

import { DEFAULT_KEEPALIVE_TIME_MS, DEFAULT_KEEPALIVE_TIMEOUT_MS } from './config.js';
import { BidiCall, type BidiHandlers, type BidiStream } from './grpc-bidi-call.js';
import { UnaryCall, type UnaryResult } from './grpc-unary-call.js';
import { transportStatus } from './grpc-wire.js';
import { ConnectionKeepalive } from './http2-keepalive.js';

/** Where to connect, how large a message may be, and how to tell a dead connection. */
export interface GrpcHttp2ClientOptions {
  /** `host:port`; IPv6 as `[addr]:port`. */
  readonly authority: string;
  /** Answers (unary) and messages (streams) larger than this fail the call. */
  readonly maxMessageBytes: number;
  /** PING the connection this long after the last answer (0 = only when a call misses its deadline); see ConnectionKeepalive. Default: as LB_KEEPALIVE_TIME_MS. */
  readonly keepaliveTimeMs?: number;
  /** A PING's answer, and the TCP connection, must come within this long, or the connection is dropped. */
  readonly keepaliveTimeoutMs?: number;
  /** Told each time a connection is given up as dead, for the log. */
  readonly onConnectionDropped?: (reason: string) => void;
  /** Set: connect over TLS (ALPN h2), with the options it returns, asked for each new connection. */
  readonly tls?: () => SecureClientSessionOptions;
}

/**
 * A minimal gRPC client for one server, straight over one node:http2
 * connection: unary calls, and bidi streams whose writes are batched. It
 * exists because the gateway asks the lookaside once per request: grpc-js
 * spent about twice the CPU per unary call (resolver, load balancer, filter
 * and retry layers) on features a single fixed connection to the lookaside
 * does not need, and on a stream it gives every message its own socket
 * write (see BidiCall). Greet calls keep using grpc-js.
 *
 * It also tells, for every failure, whether the server sent it (a
 * `grpc-status` arrived) or the transport did, which grpc-js does not.
 *
 * A connection whose peer stopped answering is dropped, and the next call
 * opens a new one: when a PING goes unanswered (periodically, and at once
 * after a unary call misses its deadline), and when a stream's owner gives
 * up on a stuck stream (BidiStream.cancelWithConnection).
 */
export class GrpcHttp2Client {
  private session: ClientHttp2Session | undefined;
  private keepalive: ConnectionKeepalive | undefined;
  private closed = false;
  /** Made once: a unary call that misses its deadline has the connection checked. */
  private readonly checkConnection = (): void => this.keepalive?.checkNow();

  constructor(private readonly options: GrpcHttp2ClientOptions) {}

  /** Whether a connection is up now (not whether the next call will work). */
  get connected(): boolean {
    return this.session !== undefined && !this.session.connecting && !this.session.destroyed;
  }

  /**
   * Calls `path` with an already framed request. Never rejects. The deadline
   * is sent to the server (`grpc-timeout`) and enforced here.
   */
  call(path: string, requestFrame: Buffer, timeoutMs: number): Promise<UnaryResult> {
    const stream = this.request(path, { 'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m` });
    if (typeof stream === 'string') return Promise.resolve({ ok: false, ...transportStatus(Status.UNAVAILABLE, stream) });
    return new Promise((resolve) =>
      new UnaryCall(stream, this.options.maxMessageBytes, timeoutMs, resolve, this.checkConnection).send(requestFrame),
    );
  }

  /** Opens a bidi stream on `path`. `handlers` are never called before this returns. */
  openStream(path: string, handlers: BidiHandlers): BidiStream {
    const stream = this.request(path, {});
    if (typeof stream !== 'string') {
      const session = stream.session as ClientHttp2Session;
      return new BidiCall(stream, this.options.maxMessageBytes, handlers, (reason) => this.retire(session, reason));
    }
    process.nextTick(() => handlers.end(transportStatus(Status.UNAVAILABLE, stream)));
    return { write: () => undefined, cancel: () => undefined, cancelWithConnection: () => undefined };
  }

  /** Closes the connection now: calls under way end as UNAVAILABLE. */
  close(): void {
    this.closed = true;
    const session = this.session;
    this.dropSession();
    session?.destroy();
  }

  /** Gives up on `session` as dead: destroyed at once (a graceful close would wait on the dead peer), so the next call reconnects. */
  private retire(session: ClientHttp2Session, reason: string): void {
    const current = session === this.session;
    if (current) this.forget();
    if (session.destroyed) return;
    session.destroy();
    if (current) this.options.onConnectionDropped?.(reason);
  }

  /** A new stream on the connection, or why there is none. */
  private request(path: string, extraHeaders: OutgoingHttpHeaders): ClientHttp2Stream | string {
    if (this.closed) return 'the client is closed';
    try {
      return this.currentSession().request(
        {
          [http2.HTTP2_HEADER_METHOD]: 'POST',
          [http2.HTTP2_HEADER_PATH]: path,
          [http2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
          [http2.HTTP2_HEADER_TE]: 'trailers',
          ...extraHeaders,
        },
        { endStream: false },
      );
    } catch (error) {
      // request() throws synchronously when the session is already going away.
      this.dropSession();
      return (error as Error).message;
    }
  }

  private currentSession(): ClientHttp2Session {
    if (this.session !== undefined && !this.session.closed && !this.session.destroyed) return this.session;
    const tls = this.options.tls;
    const session = tls === undefined ? connect(`http://${this.options.authority}`) : connect(`https://${this.options.authority}`, tls());
    // Errors reach each open stream too; here they only retire the session, so the next call reconnects.
    session.on('error', () => this.dropSession(session));
    session.on('goaway', () => this.dropSession(session));
    session.on('close', () => this.dropSession(session));
    this.session = session;
    // Its timers are its own, and stop with it; a dropped session that never closes is destroyed by them.
    this.keepalive = new ConnectionKeepalive(session, {
      timeMs: this.options.keepaliveTimeMs ?? DEFAULT_KEEPALIVE_TIME_MS,
      timeoutMs: this.options.keepaliveTimeoutMs ?? DEFAULT_KEEPALIVE_TIMEOUT_MS,
      onDead: (reason) => this.retire(session, reason),
    });
    return session;
  }

  /** Forgets the session (the current one, or only `which`) and closes it gracefully. */
  private dropSession(which?: ClientHttp2Session): void {
    const session = this.session;
    if (session === undefined || (which !== undefined && which !== session)) return;
    this.forget();
    if (!session.closed) session.close();
  }

  private forget(): void {
    this.session = undefined;
    this.keepalive = undefined;
  }
}
