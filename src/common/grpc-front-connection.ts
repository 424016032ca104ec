import { connect, type ClientHttp2Session, type ClientSessionOptions, type ServerHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';

import type { Logger } from './logging.js';
import { inMemoryConnection } from './in-memory-duplex.js';
import type { Timers } from './timers.js';

/** How the server keeps connections honest; README "Limits". */
export interface ConnectionTimes {
  /** The server pings each connection this often… */
  readonly keepaliveTimeMs: number;
  /** …and drops it when a ping has no answer within this. */
  readonly keepaliveTimeoutMs: number;
  /** A connection with no call for this long is closed (GOAWAY); clients reconnect when they need to. */
  readonly connectionIdleMs: number;
}

export const CONNECTION_TIMES: ConnectionTimes = { keepaliveTimeMs: 60_000, keepaliveTimeoutMs: 20_000, connectionIdleMs: 600_000 };

/** What a front connection is given by its GrpcFront. */
export interface FrontConnectionParts {
  readonly times: ConnectionTimes;
  readonly timers: Timers;
  readonly logger: Logger;
  /** Session options of the in-memory client sessions (memory and header bounds). */
  readonly upstreamOptions: ClientSessionOptions;
  /** Hands the server end of an in-memory connection to grpc-js; false once grpc-js takes no more. */
  readonly injectUpstream: (serverEnd: Duplex) => boolean;
}

/**
 * One client connection's HTTP/2 session on the front, and what grpc-js
 * used to do for it: a PING every keepalive time, the connection dropped when
 * one goes unanswered for the timeout, a GOAWAY once no stream has been open
 * for the idle time. Its proxied streams share one in-memory HTTP/2
 * connection to grpc-js, opened on the first of them and closed with it, so
 * that one client's flow control (a bidi stream it does not read) never
 * holds another client's calls, and grpc-js sees connections as before.
 */
export class FrontConnection {
  /** The client's address as `ip:port`, passed to grpc-js in a header (see grpc-stream-proxy.ts). */
  readonly peer: string;
  private upstreamSession: ClientHttp2Session | undefined;
  private openStreams = 0;
  private idleTimer: unknown;
  private keepaliveTimer: unknown;
  private pingTimeoutTimer: unknown;

  constructor(
    readonly session: ServerHttp2Session,
    private readonly parts: FrontConnectionParts,
  ) {
    const socket = session.socket;
    this.peer = `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`;
    session.on('error', (error) => parts.logger.debug({ err: error.message, peer: this.peer }, 'connection error'));
    session.once('close', () => this.closed());
    this.scheduleKeepalive();
    this.startIdleTimer();
  }

  /** Counts `stream` as open until it closes (the idle time runs while none is). */
  track(stream: { once(event: 'close', listener: () => void): unknown }): void {
    this.openStreams += 1;
    this.parts.timers.clearTimeout(this.idleTimer);
    stream.once('close', () => {
      this.openStreams -= 1;
      if (this.openStreams === 0) this.startIdleTimer();
    });
  }

  /** The in-memory session to grpc-js, opened now if there is none (or it closed); undefined when grpc-js takes no more connections. */
  upstream(): ClientHttp2Session | undefined {
    const current = this.upstreamSession;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const { clientEnd, serverEnd } = inMemoryConnection();
    if (!this.parts.injectUpstream(serverEnd)) {
      serverEnd.destroy();
      return undefined;
    }
    const session = connect('http://lookaside.front', { ...this.parts.upstreamOptions, createConnection: () => clientEnd });
    session.on('error', (error) => this.parts.logger.debug({ err: error.message }, 'in-memory connection to grpc-js failed'));
    session.once('close', () => {
      if (this.upstreamSession === session) this.upstreamSession = undefined;
    });
    this.upstreamSession = session;
    return session;
  }

  /** GOAWAY: the client opens no new stream here; open ones may finish, then the connection closes. */
  close(): void {
    if (!this.session.closed && !this.session.destroyed) this.session.close();
  }

  destroy(): void {
    this.session.destroy();
  }

  private startIdleTimer(): void {
    this.parts.timers.clearTimeout(this.idleTimer);
    this.idleTimer = this.parts.timers.setTimeout(() => {
      this.parts.logger.debug({ peer: this.peer }, 'closing an idle connection');
      this.close();
    }, this.parts.times.connectionIdleMs);
  }

  private scheduleKeepalive(): void {
    this.keepaliveTimer = this.parts.timers.setTimeout(() => this.ping(), this.parts.times.keepaliveTimeMs);
  }

  private ping(): void {
    if (this.session.destroyed) return;
    const { timers, times, logger } = this.parts;
    this.pingTimeoutTimer = timers.setTimeout(() => {
      logger.debug({ peer: this.peer }, 'dropping a connection that did not answer a keepalive ping');
      this.session.destroy();
    }, times.keepaliveTimeoutMs);
    try {
      this.session.ping((error) => {
        timers.clearTimeout(this.pingTimeoutTimer);
        if (error === null) this.scheduleKeepalive();
      });
    } catch {
      timers.clearTimeout(this.pingTimeoutTimer); // the session went away meanwhile
    }
  }

  private closed(): void {
    const timers = this.parts.timers;
    for (const timer of [this.idleTimer, this.keepaliveTimer, this.pingTimeoutTimer]) timers.clearTimeout(timer);
    this.upstreamSession?.destroy();
    this.upstreamSession = undefined;
  }
}
