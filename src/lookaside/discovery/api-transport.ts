import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';

import type { Logger } from '../../common/logging.js';
import type { ApiCredentials } from './api-access.js';
import { connectApiServer, H2Sessions, NotHttp2Error } from './h2-sessions.js';

/** The status line of an answer and its body, to be read to the end or destroyed. */
export interface ApiAnswer {
  readonly status: number;
  readonly body: Readable;
}

/** Requests to the API server; nothing above this knows HTTP versions or connections. */
export interface ApiTransport {
  /**
   * Sends GET `pathAndQuery` with the current credentials; resolves once the
   * answer's status arrives. Aborting `signal` ends the request at any stage.
   */
  get(pathAndQuery: string, signal: AbortSignal): Promise<ApiAnswer>;
  /** Sends PATCH `path` with `body` of `contentType` (a merge patch of an object's status, say), as `get` sends GET. */
  patch?(path: string, body: string, contentType: string, signal: AbortSignal): Promise<ApiAnswer>;
  /** The API server refused the credentials (401). */
  unauthorized(): void;
  /** TCP connections held now. */
  readonly connectionCount: number;
  close(): void;
}

/**
 * The lookaside's own API client, in place of @kubernetes/client-node's, which
 * makes a new HTTP agent, so a new TCP connection, for every list and every
 * watch (measured: 1,000 watched Services held 1,000 connections). Over https
 * it speaks HTTP/2 (H2Sessions: every watch and list on one connection, as
 * client-go does); a server that offers only HTTP/1.1 in ALPN, and http://
 * servers (kubectl proxy, the tests' fake), get HTTP/1.1 over one keep-alive
 * agent, where each open watch holds one connection and lists reuse idle ones.
 */
export class KubeTransport implements ApiTransport {
  private readonly origin: URL;
  private readonly sessions: H2Sessions | undefined;
  private http1: HttpAgent | undefined;

  constructor(
    private readonly credentials: ApiCredentials,
    private readonly logger: Logger,
  ) {
    const { server, tls } = credentials.current;
    this.origin = new URL(server);
    if (this.origin.protocol === 'https:') {
      this.sessions = new H2Sessions({ connect: () => connectApiServer(this.origin, tls), logger });
    }
  }

  get connectionCount(): number {
    const agent = this.http1;
    const http1 =
      agent === undefined
        ? 0
        : [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)].reduce((sum, list) => sum + (list?.length ?? 0), 0);
    return (this.sessions?.connectionCount ?? 0) + http1;
  }

  get(pathAndQuery: string, signal: AbortSignal): Promise<ApiAnswer> {
    return this.send('GET', pathAndQuery, signal);
  }

  patch(path: string, body: string, contentType: string, signal: AbortSignal): Promise<ApiAnswer> {
    return this.send('PATCH', path, signal, { body, contentType });
  }

  private async send(method: string, pathAndQuery: string, signal: AbortSignal, payload?: { body: string; contentType: string }): Promise<ApiAnswer> {
    const headers: Record<string, string> = { ...(await this.credentials.headers()), accept: 'application/json' };
    if (payload !== undefined) headers['content-type'] = payload.contentType;
    if (this.sessions !== undefined && this.http1 === undefined) {
      try {
        const { status, stream } = await this.sessions.request({ ':method': method, ':path': pathAndQuery, ...headers }, signal, payload?.body);
        return { status, body: stream };
      } catch (error) {
        if (!(error instanceof NotHttp2Error)) throw error;
        this.logger.info({ server: this.origin.host, reason: error.message }, 'the API server does not speak HTTP/2; using HTTP/1.1');
        this.sessions.close();
      }
    }
    return this.sendHttp1(method, pathAndQuery, headers, signal, payload?.body);
  }

  unauthorized(): void {
    this.credentials.unauthorized();
  }

  close(): void {
    this.sessions?.close();
    this.http1?.destroy();
  }

  private sendHttp1(method: string, pathAndQuery: string, headers: Record<string, string>, signal: AbortSignal, body?: string): Promise<ApiAnswer> {
    const https = this.origin.protocol === 'https:';
    const agent = (this.http1 ??= https ? new HttpsAgent({ keepAlive: true, ...this.credentials.current.tls }) : new HttpAgent({ keepAlive: true }));
    return new Promise((resolve, reject) => {
      signal.throwIfAborted();
      const request = (https ? httpsRequest : httpRequest)(new URL(pathAndQuery, this.origin), { method, headers, agent });
      // Not request's own `signal` option: an abort once the whole answer has
      // arrived (its reader may not have read it all yet) would destroy the
      // socket the agent has since taken back, with nobody listening (Node 20).
      let answer: IncomingMessage | undefined;
      const abort = (): void => {
        if (answer?.complete !== true) request.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      signal.addEventListener('abort', abort, { once: true });
      request.once('close', () => signal.removeEventListener('abort', abort));
      request.once('response', (response: IncomingMessage) => {
        answer = response;
        resolve({ status: response.statusCode ?? 0, body: response });
      });
      // Errors after the answer (an abort, a reset) reach the body's reader; this keeps them from being unhandled.
      request.on('error', reject);
      request.end(body);
    });
  }
}
