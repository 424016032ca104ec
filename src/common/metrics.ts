import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { collectDefaultMetrics, Counter, Registry, type CounterConfiguration, type LabelValues } from 'prom-client';

import type { Logger } from './logging.js';

/** A registry with the default process metrics (CPU, memory, event loop lag, GC). */
export function createMetricsRegistry(app: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ app });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * A labelled Counter for the per-call path. prom-client rebuilds and hashes the
 * label string on every `inc()`, even on a child from `labels()` (a few hundred
 * ns each, several times per call, plus garbage). Children of this counter
 * count in a plain number and hand their count to the prom-client Counter when
 * the registry is read (its `collect` hook), so every scrape is exact and the
 * exposition is prom-client's own.
 */
export class BufferedCounter<T extends string> {
  readonly counter: Counter<T>;
  private readonly children = new Set<BufferedCounterChild<T>>();

  constructor(configuration: Omit<CounterConfiguration<T>, 'collect'>) {
    const children = this.children;
    this.counter = new Counter<T>({
      ...configuration,
      collect() {
        for (const child of children) child.flushTo(this);
      },
    });
  }

  /** The child for one label set; keep it and call `inc()` on it. */
  child(labels: LabelValues<T>): BufferedCounterChild<T> {
    const child = new BufferedCounterChild(labels);
    this.children.add(child);
    return child;
  }

  /** Removes a child and its series (what it had not yet handed over is dropped with it). */
  remove(child: BufferedCounterChild<T>): void {
    this.children.delete(child);
    this.counter.remove(child.labels);
  }
}

export class BufferedCounterChild<T extends string> {
  private pending = 0;

  constructor(readonly labels: LabelValues<T>) {}

  inc(): void {
    this.pending += 1;
  }

  /** @internal called on scrape */
  flushTo(counter: Counter<T>): void {
    if (this.pending === 0) return;
    counter.inc(this.labels, this.pending);
    this.pending = 0;
  }
}

/** What a debug route answers: an HTTP status and a body sent as JSON. */
export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** Extra GET routes on the metrics port (such as /debug/endpoints), by path; each gets the request's query. */
export type DebugRoutes = Readonly<Record<string, (query: URLSearchParams) => JsonAnswer>>;

export interface MetricsEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `GET /metrics` in the Prometheus text format on its own HTTP port, and `routes` beside it. */
export async function startMetricsServer(
  registry: Registry,
  host: string,
  port: number,
  logger: Logger,
  routes: DebugRoutes = {},
): Promise<MetricsEndpoint> {
  const server: Server = createServer((request, response) => {
    const [path = '/', query = ''] = (request.url ?? '/').split('?', 2);
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (route !== undefined) {
      answerRoute(request.method, response, path, () => route(new URLSearchParams(query)));
      return;
    }
    if (path !== '/metrics') {
      sendJsonError(response, 404, 'NOT_FOUND', `no such path ${path}; metrics are at /metrics`);
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      sendJsonError(response, 405, 'METHOD_NOT_ALLOWED', 'use GET /metrics');
      return;
    }
    registry.metrics().then(
      (text) => {
        response.writeHead(200, { 'content-type': registry.contentType });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'collecting metrics failed');
        sendJsonError(response, 500, 'INTERNAL', 'collecting metrics failed');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  logger.info({ port: bound, host }, 'metrics listening');
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function answerRoute(method: string | undefined, response: import('node:http').ServerResponse, path: string, run: () => JsonAnswer): void {
  if (method !== 'GET') {
    response.setHeader('allow', 'GET');
    sendJsonError(response, 405, 'METHOD_NOT_ALLOWED', `use GET ${path}`);
    return;
  }
  const answer = run();
  response.writeHead(answer.status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(answer.body));
}

function sendJsonError(
  response: import('node:http').ServerResponse,
  status: number,
  code: string,
  message: string,
): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ error: { code, message } }));
}
