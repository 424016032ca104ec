import { createServer, type ClientSessionOptions, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';

import { ServerCredentials, status as Status, type Server } from '@grpc/grpc-js';

import { FrontConnection, type ConnectionTimes } from './grpc-front-connection.js';
import type { StreamRoutes } from './grpc-stream-routes.js';
import { proxyStream, refuseStream } from './grpc-stream-proxy.js';
import type { Logger } from './logging.js';
import { REAL_TIMERS, type Timers } from './timers.js';

/**
 * Memory one HTTP/2 session may hold (node:http2 `maxSessionMemory`, MB):
 * frames queued to the peer, header tables, pending pings. Node's default is
 * 10; grpc-js lifts the bound entirely. A session over it refuses new streams
 * (ENHANCE_YOUR_CALM) instead of growing the process.
 */
const MAX_SESSION_MEMORY_MB = 16;
/** The largest request header block (HPACK-decoded) a client may send: gRPC's usual metadata bound is 8-16 KiB. */
const MAX_HEADER_LIST_BYTES = 64 * 1024;

export interface GrpcFrontOptions {
  /** The grpc-js server that serves every stream whose path has no route. */
  readonly server: Server;
  readonly routes: StreamRoutes;
  readonly times: ConnectionTimes;
  /** SETTINGS_MAX_CONCURRENT_STREAMS of every connection. */
  readonly maxStreamsPerConnection: number;
  readonly logger: Logger;
  readonly timers?: Timers;
}

/**
 * The HTTP/2 side of the gRPC port: owns each client connection's session
 * (SETTINGS, keepalive, idle GOAWAY, shutdown) and sends each stream either
 * to its StreamRoute (the hot Resolve methods, served without grpc-js's
 * per-call machinery) or, through an in-memory connection, to the grpc-js
 * server (health, reflection, xDS, unknown methods). Every session and stream
 * has an 'error' listener before a route sees it: a socket error, a bad
 * frame or a client reset never throws.
 */
export class GrpcFront {
  private readonly h2: Http2Server;
  private readonly connections = new Set<FrontConnection>();
  private readonly upstreamInjector: { injectConnection(connection: Duplex): void };
  private readonly timers: Timers;
  private stopping = false;
  private readonly whenEmpty: Array<() => void> = [];

  constructor(private readonly options: GrpcFrontOptions) {
    this.timers = options.timers ?? REAL_TIMERS;
    this.upstreamInjector = options.server.createConnectionInjector(ServerCredentials.createInsecure());
    const sessionBounds = {
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      // grpc-status-details-bin can be large; node's default would refuse the trailers.
      maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
    };
    this.h2 = createServer({
      ...sessionBounds,
      settings: { maxConcurrentStreams: options.maxStreamsPerConnection, maxHeaderListSize: MAX_HEADER_LIST_BYTES, enablePush: false },
    });
    this.h2.on('session', (session: ServerHttp2Session) => this.adopt(session, sessionBounds));
    // A bad preface or frame: the session is destroyed; its 'error' listener (adopt) has logged it.
    this.h2.on('sessionError', () => undefined);
  }

  /** Client connections open now. */
  get size(): number {
    return this.connections.size;
  }

  /** Serves HTTP/2 on `socket` (a TCP socket, or a TLS one after its handshake). */
  injectConnection(socket: Duplex): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    this.h2.emit('connection', socket);
  }

  /**
   * Graceful stop: GOAWAY on every connection (clients open no new stream;
   * open ones may finish) and grpc-js's own tryShutdown; `callback` once every
   * connection has closed and grpc-js has stopped. Same shape as grpc-js's
   * Server, so shutdownServer() stops either.
   */
  tryShutdown(callback: () => void): void {
    this.stopping = true;
    let pending = 2;
    const done = (): void => {
      pending -= 1;
      if (pending === 0) callback();
    };
    this.options.server.tryShutdown(done);
    if (this.connections.size === 0) done();
    else this.whenEmpty.push(done);
    for (const connection of this.connections) connection.close();
  }

  /** Forced stop: every connection destroyed at once, every call with it. */
  forceShutdown(): void {
    this.stopping = true;
    for (const connection of this.connections) connection.destroy();
    this.options.server.forceShutdown();
  }

  private adopt(session: ServerHttp2Session, upstreamOptions: ClientSessionOptions): void {
    const connection = new FrontConnection(session, {
      times: this.options.times,
      timers: this.timers,
      logger: this.options.logger,
      upstreamOptions,
      injectUpstream: (serverEnd) => {
        if (this.stopping) return false;
        this.upstreamInjector.injectConnection(serverEnd);
        return true;
      },
    });
    this.connections.add(connection);
    session.once('close', () => {
      this.connections.delete(connection);
      if (this.connections.size === 0) for (const done of this.whenEmpty.splice(0)) done();
    });
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.dispatch(connection, stream, headers));
    if (this.stopping) connection.close();
  }

  private dispatch(connection: FrontConnection, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => undefined); // a reset or a broken connection: 'close' tells the route or the proxy
    connection.track(stream);
    const path = headers[':path'];
    const route = path === undefined ? undefined : this.options.routes.get(path);
    if (route !== undefined) {
      try {
        route(stream, headers);
      } catch (error) {
        this.options.logger.error({ err: error, path }, 'stream route threw');
        refuseStream(stream, Status.INTERNAL, 'internal error');
      }
      return;
    }
    const upstream = connection.upstream();
    if (upstream === undefined) refuseStream(stream, Status.UNAVAILABLE, 'the server is shutting down');
    else proxyStream(stream, headers, upstream, connection.peer);
  }
}
