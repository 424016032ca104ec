import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import type { Registry } from 'prom-client';

import type { Logger } from '../../common/logging.js';
import { bodyTooLarge, checkGreetHeaders, MAX_BODY_BYTES, parseGreetBody, type HttpProblem } from './greet-request.js';
import type { GatewayMetrics } from './metrics.js';
import type { GreetRouter, RouteFailureKind } from './router.js';

export interface HttpEdgeOptions {
  readonly router: GreetRouter;
  readonly registry: Registry;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
}

/** Route labels are fixed, so a scan of random paths cannot grow the metrics. */
const ROUTES = new Set(['/greet', '/healthz', '/readyz', '/metrics']);
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

const FAILURE_STATUS: Readonly<Record<RouteFailureKind, { status: number; code: string }>> = {
  'no-backend': { status: 503, code: 'NO_BACKEND' },
  timeout: { status: 504, code: 'BACKEND_TIMEOUT' },
  rejected: { status: 400, code: 'INVALID_ARGUMENT' },
  'backend-error': { status: 502, code: 'BACKEND_ERROR' },
};

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

type Headers = Readonly<Record<string, string>>;
/** Sends one answer and records it in the HTTP metrics. */
type Reply = (status: number, body: string, headers?: Headers) => void;
/** Sends one `{"error": …}` answer. */
type Fail = (problem: HttpProblem, headers?: Headers) => void;

/**
 * The gateway's HTTP side: `POST /greet`, `/healthz`, `/readyz`, `/metrics`.
 * Every error is `{"error": {"code", "message"}}`; nothing a client sends can
 * make it throw.
 */
export class HttpEdge {
  private readonly server: Server;
  private draining = false;

  constructor(private readonly options: HttpEdgeOptions) {
    this.server = createServer((request, response) => this.handle(request, response));
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => answerClientError(error, socket));
  }

  /** Listens on `host:port` (0 = any free port) and returns the bound port. */
  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** From now on /readyz answers 503, so load balancers stop sending new clients. */
  startDraining(): void {
    this.draining = true;
  }

  /** Stops taking connections, lets requests under way finish, and after `graceMs` cuts the rest. */
  close(graceMs: number): Promise<'drained' | 'forced'> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.closeAllConnections();
        resolve('forced');
      }, graceMs);
      timer.unref();
      this.server.close(() => {
        clearTimeout(timer);
        resolve('drained');
      });
      this.server.closeIdleConnections();
    });
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const startedMs = performance.now();
    const url = request.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt < 0 ? url : url.slice(0, queryAt);
    const route = ROUTES.has(path) ? path : 'other';
    const method = METHODS.has(request.method ?? '') ? (request.method as string) : 'other';
    const reply: Reply = (status, body, headers = JSON_HEADERS) => {
      if (!response.headersSent) {
        response.writeHead(status, headers);
        response.end(request.method === 'HEAD' ? undefined : body);
      }
      this.options.metrics.observeHttp(route, method, status, (performance.now() - startedMs) / 1000);
    };
    const fail: Fail = (problem, headers = JSON_HEADERS) =>
      reply(problem.status, errorBody(problem.code, problem.message), headers);

    try {
      switch (route) {
        case '/greet':
          if (request.method !== 'POST') return methodNotAllowed(fail, 'POST', path);
          return this.greet(request, reply, fail);
        case '/healthz':
          if (!isGetOrHead(request)) return methodNotAllowed(fail, 'GET, HEAD', path);
          return reply(200, '{"status":"ok"}');
        case '/readyz':
          if (!isGetOrHead(request)) return methodNotAllowed(fail, 'GET, HEAD', path);
          return this.readyz(reply, fail);
        case '/metrics':
          if (!isGetOrHead(request)) return methodNotAllowed(fail, 'GET, HEAD', path);
          return this.metrics(reply, fail);
        default:
          return fail({
            status: 404,
            code: 'NOT_FOUND',
            message: `no route ${JSON.stringify(path.slice(0, 100))}; try POST /greet, GET /healthz, /readyz or /metrics`,
          });
      }
    } catch (error) {
      this.internalError(error, fail);
    }
  }

  private greet(request: IncomingMessage, reply: Reply, fail: Fail): void {
    const headerProblem = checkGreetHeaders(request.headers);
    if (headerProblem !== undefined) {
      // Do not read a body we are refusing; closing the connection discards the rest of it.
      fail(headerProblem, { ...JSON_HEADERS, connection: 'close' });
      return;
    }
    readBody(request, MAX_BODY_BYTES).then(
      async (body) => {
        if (body === 'aborted') return;
        if (body === 'too-large') {
          fail(bodyTooLarge(), { ...JSON_HEADERS, connection: 'close' });
          return;
        }
        const parsed = parseGreetBody(body);
        if (!parsed.ok) {
          fail(parsed.problem);
          return;
        }
        const outcome = await this.options.router.greet(parsed.value);
        if (outcome.ok) {
          const { result, pod_name, pod_ip } = outcome.response;
          reply(200, JSON.stringify({ result, pod_name, pod_ip, address: outcome.address }));
          return;
        }
        const { status, code } = FAILURE_STATUS[outcome.kind];
        this.options.logger.debug({ status, message: outcome.message }, 'greet failed');
        fail({ status, code, message: outcome.message });
      },
    ).catch((error: unknown) => this.internalError(error, fail));
  }

  private readyz(reply: Reply, fail: Fail): void {
    if (this.draining) {
      fail({ status: 503, code: 'NOT_READY', message: 'shutting down' });
      return;
    }
    const readiness = this.options.router.readiness();
    if (!readiness.ready) {
      fail({ status: 503, code: 'NOT_READY', message: readiness.summary });
      return;
    }
    const status = readiness.detail['degraded'] === true ? 'degraded' : 'ready';
    reply(200, JSON.stringify({ status, message: readiness.summary, ...readiness.detail }));
  }

  private metrics(reply: Reply, fail: Fail): void {
    this.options.registry.metrics().then(
      (text) => reply(200, text, { 'content-type': this.options.registry.contentType }),
      (error: unknown) => this.internalError(error, fail),
    );
  }

  private internalError(error: unknown, fail: Fail): void {
    this.options.logger.error({ err: error }, 'request failed unexpectedly');
    fail({ status: 500, code: 'INTERNAL', message: 'internal error; see the gateway log' });
  }
}

function isGetOrHead(request: IncomingMessage): boolean {
  return request.method === 'GET' || request.method === 'HEAD';
}

function methodNotAllowed(fail: Fail, allow: string, path: string): void {
  fail(
    { status: 405, code: 'METHOD_NOT_ALLOWED', message: `${path} accepts ${allow}` },
    { ...JSON_HEADERS, allow },
  );
}

function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/** Collects the body up to `limitBytes`; stops reading once it is over. */
function readBody(request: IncomingMessage, limitBytes: number): Promise<string | 'too-large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (value: string | 'too-large' | 'aborted'): void => {
      if (settled) return;
      settled = true;
      resolve(value);
    };
    request.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limitBytes) {
        settle('too-large');
        request.pause();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => settle(Buffer.concat(chunks, size).toString('utf8')));
    request.on('error', () => settle('aborted'));
    request.on('close', () => settle('aborted'));
  });
}

/** Malformed HTTP never reaches a handler; answer it in JSON too, then hang up. */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const body = errorBody(
    status === 431 ? 'HEADERS_TOO_LARGE' : 'BAD_REQUEST',
    status === 431 ? 'the request headers are too large' : 'the request is not valid HTTP/1.1',
  );
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
