import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import type { Registry } from 'prom-client';

import type { Logger } from '../../common/logging.js';
import type { HttpLimits } from './config.js';
import { bodyTooLarge, checkGreetHeaders, MAX_BODY_BYTES, parseGreetBody, type HttpProblem } from './greet-request.js';
import { answerClientError, errorBody, readBody } from './http-wire.js';
import type { GatewayMetrics } from './metrics.js';
import type { GreetRouter, RouteFailureKind } from './router.js';

export interface HttpEdgeOptions {
  readonly router: GreetRouter;
  readonly registry: Registry;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly limits: HttpLimits;
  /** Milliseconds, monotonic; injectable for tests. */
  readonly now?: () => number;
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
const MAX_TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/** 5xx details reach the log at warn at most this often per kind; every one at debug. */
const FAILURE_WARN_INTERVAL_MS = 10_000;

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
  /** Per failure kind: when its details last went to the log at warn, and how many since did not. */
  private readonly failureWarnings = new Map<string, { atMs: number; suppressed: number }>();

  constructor(private readonly options: HttpEdgeOptions) {
    const { limits } = options;
    this.server = createServer(
      {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        // How often those two are checked, so they hold to within a quarter (node's default: every 30 s).
        connectionsCheckingInterval: Math.max(10, Math.min(MAX_TIMEOUT_CHECK_INTERVAL_MS, Math.floor(limits.headersTimeoutMs / 4))),
      },
      (request, response) => this.handle(request, response),
    );
    this.server.keepAliveTimeout = limits.keepAliveTimeoutMs;
    // Over the cap, node closes new connections as they arrive, before reading a byte.
    this.server.maxConnections = limits.maxConnections;
    this.server.on('drop', () => options.metrics.countConnectionRefused());
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      const status = answerClientError(error, socket);
      if (status !== undefined) options.metrics.observeHttp('other', 'other', status, 0);
    });
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
        this.logFailure(outcome.kind, status, outcome.detail);
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

  /** The caller got a short reason; the log gets the pod, the gRPC error and the lookaside's words. */
  private logFailure(kind: string, status: number, detail: string): void {
    const logger = this.options.logger;
    if (status < 500) {
      logger.debug({ status, detail }, 'greet failed');
      return;
    }
    const nowMs = this.options.now?.() ?? performance.now();
    const last = this.failureWarnings.get(kind);
    if (last !== undefined && nowMs - last.atMs < FAILURE_WARN_INTERVAL_MS) {
      last.suppressed += 1;
      logger.debug({ status, detail }, 'greet failed');
      return;
    }
    logger.warn({ status, kind, detail, alsoFailedSinceLastWarning: last?.suppressed ?? 0 }, 'greet failed');
    this.failureWarnings.set(kind, { atMs: nowMs, suppressed: 0 });
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
