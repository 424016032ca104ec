import { connect as connectHttp2, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { connect as connectTls } from 'node:tls';

import type { Logger } from '../../common/logging.js';
import type { ApiTls } from './api-access.js';

/**
 * A connection with no answer to a PING this long after it was sent is
 * replaced: client-go's HTTP/2 transport checks its connection to the API
 * server the same way (ReadIdleTimeout 30 s, PingTimeout 15 s), so a peer that
 * vanished without closing is found in under a minute, for every watch at once.
 */
export const PING_INTERVAL_MS = 30_000;
export const PING_TIMEOUT_MS = 15_000;
/** A TLS connection (and its HTTP/2 SETTINGS) not up after this long counts as failed. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** Go's HTTP/2 client assumes this many streams until the server's SETTINGS say otherwise. */
const DEFAULT_MAX_STREAMS = 100;
/**
 * Flow-control windows, as client-go's transport sets them (4 MiB per stream,
 * more per connection): with HTTP/2's default 64 KiB a list of a few MB waits
 * on a window update every 64 KiB, an event-loop turn on both sides each
 * (measured: a 2.5 MB list took 150–300 ms to arrive, against 50 ms to serve).
 */
export const STREAM_WINDOW_BYTES = 4 * 2 ** 20;
export const CONNECTION_WINDOW_BYTES = 16 * 2 ** 20;

/** The server negotiated HTTP/1.1 (or nothing) in TLS ALPN: it does not speak HTTP/2. */
export class NotHttp2Error extends Error {
  override name = 'NotHttp2Error';
}

interface Entry {
  readonly session: ClientHttp2Session;
  streams: number;
  /** GOAWAY received: its streams finish, new ones go elsewhere. */
  draining: boolean;
  readonly pingTimer: NodeJS.Timeout;
}

export interface H2SessionsOptions {
  /** Opens one HTTP/2 session; resolves once the server's SETTINGS arrived. */
  readonly connect: () => Promise<ClientHttp2Session>;
  readonly logger: Logger;
  readonly pingIntervalMs?: number;
  readonly pingTimeoutMs?: number;
}

/**
 * Every request to the API server over as few HTTP/2 connections as the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS allows (kube-apiserver: 1000), as
 * client-go does: a watch is one stream, so a thousand watches and their lists
 * share one TCP connection. A session that closes, errs, misses a PING or
 * sends GOAWAY takes no new streams; its open streams end with it (their
 * watches restart) or finish.
 */
export class H2Sessions {
  private readonly entries = new Set<Entry>();
  private connecting: Promise<Entry> | undefined;
  private closed = false;

  constructor(private readonly options: H2SessionsOptions) {}

  /** TCP connections held now. */
  get connectionCount(): number {
    return this.entries.size;
  }

  /** Opens a stream for `headers`; resolves when the answer's headers arrive. */
  /** Sends one request (with `body`, if any, as its payload); resolves when the answer's headers arrive. */
  async request(headers: Record<string, string>, signal: AbortSignal, body?: string): Promise<{ status: number; stream: ClientHttp2Stream }> {
    signal.throwIfAborted();
    const entry = await this.entryWithRoom();
    signal.throwIfAborted();
    const stream = entry.session.request(headers, { signal });
    if (body !== undefined) stream.end(body);
    entry.streams++;
    stream.once('close', () => entry.streams--);
    // The reader of the body listens for errors itself; this one keeps an error
    // that comes before it does from being thrown as unhandled.
    stream.on('error', () => undefined);
    return new Promise((resolve, reject) => {
      stream.once('response', (answer) => resolve({ status: Number(answer[':status']), stream }));
      stream.once('error', reject);
      stream.once('close', () => reject(new Error(`the HTTP/2 stream closed before an answer (code ${stream.rstCode ?? '?'})`)));
    });
  }

  close(): void {
    this.closed = true;
    for (const entry of [...this.entries]) this.forget(entry, true);
  }

  private async entryWithRoom(): Promise<Entry> {
    for (;;) {
      if (this.closed) throw new Error('the API client is closed');
      for (const entry of this.entries) {
        if (!entry.draining && !entry.session.closed && entry.streams < maxStreams(entry.session)) return entry;
      }
      this.connecting ??= this.open().finally(() => (this.connecting = undefined));
      const entry = await this.connecting;
      if (entry.streams < maxStreams(entry.session)) return entry;
    }
  }

  private async open(): Promise<Entry> {
    const session = await this.options.connect();
    session.unref();
    session.settings({ initialWindowSize: STREAM_WINDOW_BYTES });
    session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    const entry: Entry = { session, streams: 0, draining: false, pingTimer: this.startPings(session) };
    this.entries.add(entry);
    session.on('goaway', () => (entry.draining = true));
    session.once('close', () => this.forget(entry, false));
    session.on('error', (error: Error) => {
      this.options.logger.warn({ err: error.message }, 'API server connection failed; its watches restart');
      this.forget(entry, true);
    });
    if (this.closed) this.forget(entry, true);
    return entry;
  }

  private startPings(session: ClientHttp2Session): NodeJS.Timeout {
    const timeoutMs = this.options.pingTimeoutMs ?? PING_TIMEOUT_MS;
    const timer = setInterval(() => {
      let answered = false;
      const deadline = setTimeout(() => {
        if (answered || session.destroyed) return;
        this.options.logger.warn({ timeoutMs }, 'API server connection did not answer a PING; replacing it');
        session.destroy(new Error(`the API server did not answer a PING within ${timeoutMs} ms`));
      }, timeoutMs);
      deadline.unref();
      try {
        session.ping(() => {
          answered = true;
          clearTimeout(deadline);
        });
      } catch {
        // Closing already: the 'close' handler takes it out.
        clearTimeout(deadline);
      }
    }, this.options.pingIntervalMs ?? PING_INTERVAL_MS);
    timer.unref();
    return timer;
  }

  private forget(entry: Entry, destroy: boolean): void {
    clearInterval(entry.pingTimer);
    this.entries.delete(entry);
    if (destroy && !entry.session.destroyed) entry.session.destroy();
  }
}

function maxStreams(session: ClientHttp2Session): number {
  return session.remoteSettings.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS;
}

/**
 * The production `connect`: TLS with ALPN h2 and http/1.1; rejects with
 * NotHttp2Error when the server picks HTTP/1.1.
 */
export function connectApiServer(origin: URL, tls: ApiTls): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const socket = connectTls({
      host: origin.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(origin.port || 443),
      servername: tls.servername,
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      rejectUnauthorized: tls.rejectUnauthorized,
      ALPNProtocols: ['h2', 'http/1.1'],
    });
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`no TLS connection to ${origin.host} within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    timer.unref();
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      if (socket.alpnProtocol !== 'h2') {
        fail(new NotHttp2Error(`${origin.host} does not offer HTTP/2 (ALPN: ${socket.alpnProtocol || 'none'})`));
        return;
      }
      socket.off('error', fail);
      const session = connectHttp2(origin, { createConnection: () => socket });
      session.once('error', fail);
      session.once('remoteSettings', () => {
        clearTimeout(timer);
        session.off('error', fail);
        resolve(session);
      });
    });
  });
}
