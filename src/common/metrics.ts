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

/** What a debug page answers: an HTTP status and a body sent as JSON. */
export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** A read-only page beside /metrics (such as /debug/endpoints): `GET <path>?<query>` answers what this returns for the query. */
export type JsonPage = (query: URLSearchParams) => JsonAnswer | Promise<JsonAnswer>;

/** What the metrics port reads: a prom-client Registry, or anything that writes the same exposition. */
export type MetricsText = Pick<Registry, 'metrics' | 'contentType'>;

export interface MetricsEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `GET /metrics` in the Prometheus text format on its own HTTP port, and each of `pages` beside it as JSON. */
export async function startMetricsServer(
  registry: MetricsText,
  host: string,
  port: number,
  logger: Logger,
  pages: Readonly<Record<string, JsonPage>> = {},
): Promise<MetricsEndpoint> {
  const server: Server = createServer((request, response) => {
    const [path = '/', query = ''] = (request.url ?? '/').split('?', 2);
    const page = Object.hasOwn(pages, path) ? pages[path] : undefined;
    if (path !== '/metrics' && page === undefined) {
      const others = Object.keys(pages).map((other) => `, ${other}`).join('');
      sendJsonError(response, 404, 'NOT_FOUND', `no such path ${path}; metrics are at /metrics${others}`);
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      sendJsonError(response, 405, 'METHOD_NOT_ALLOWED', `use GET ${path}`);
      return;
    }
    if (page !== undefined) {
      sendPage(response, request.method === 'HEAD', () => page(new URLSearchParams(query)), logger);
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

function sendPage(response: import('node:http').ServerResponse, headOnly: boolean, page: () => JsonAnswer | Promise<JsonAnswer>, logger: Logger): void {
  const send = (answer: JsonAnswer): void => {
    const body = JSON.stringify(answer.body, null, 2);
    response.writeHead(answer.status, { 'content-type': 'application/json' });
    response.end(headOnly ? undefined : body);
  };
  const fail = (error: unknown): void => {
    logger.error({ err: error }, 'building a debug page failed');
    sendJsonError(response, 500, 'INTERNAL', 'building the page failed');
  };
  try {
    const answer = page();
    if (answer instanceof Promise) answer.then(send).catch(fail);
    else send(answer);
  } catch (error) {
    fail(error);
  }
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
