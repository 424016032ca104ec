import { fileURLToPath } from 'node:url';

import { AggregatorRegistry, Counter, Gauge, type MetricObjectWithValues, type MetricValue } from 'prom-client';

import type { Logger } from '../../common/logging.js';
import { createMetricsRegistry, startMetricsServer, type JsonAnswer, type JsonPage, type MetricsText } from '../../common/metrics.js';
import type { LookasideConfig } from '../config.js';
import { DEBUG_ENDPOINTS_PATH } from '../load/debug-endpoints.js';
import { HEALTH_PATH, openDiscovery, openRoutes, type Lookaside } from '../lookaside.js';
import { LookasideMetrics } from '../metrics.js';
import { ServingTls } from '../serving-tls.js';
import { METRICS_JSON_PAGE } from './protocol.js';
import { WorkerPool, type WorkerAnswer } from './worker-pool.js';

/** Each worker's slot, pid, whether it listens and how often it was restarted. */
export const DEBUG_WORKERS_PATH = '/debug/workers';

/** How much longer than SHUTDOWN_GRACE_SECONDS a worker may take to exit before it is killed. */
const WORKER_STOP_MARGIN_MS = 5_000;

const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));

/**
 * The lookaside with LB_WORKERS > 1: this process (the primary) owns
 * discovery (one watch per namespace, whatever the number of workers), the
 * routes and the metrics port; `config.workers` processes serve the gRPC
 * edge on the shared LB_PORT (node:cluster hands each new connection to the
 * next worker in turn). /metrics is every worker's registry and the
 * primary's, each series labelled with its `worker`; debug pages answer
 * with every worker's view.
 */
export async function createPrimary(config: LookasideConfig, logger: Logger): Promise<Lookaside> {
  // Each worker reads the TLS files itself; bad ones stop start-up here first, as they stop a single process.
  if (config.tls !== undefined) (await ServingTls.open(config.tls, logger.child({ module: 'tls' }))).close();
  const registry = createMetricsRegistry('lookaside');
  const source = await openDiscovery(config, new LookasideMetrics(registry), logger.child({ module: 'discovery' }));
  const routes = openRoutes(config, source, logger.child({ module: 'routes' }));
  const restarts = new Counter({ name: 'lookaside_worker_restarts_total', help: 'gRPC edge workers (LB_WORKERS) that died and were started again', labelNames: ['worker'], registers: [registry] });
  const listening = new Gauge({ name: 'lookaside_workers_listening', help: 'gRPC edge workers serving now, of LB_WORKERS', registers: [registry] });
  const pool = new WorkerPool({
    count: config.workers,
    exec: WORKER_MAIN,
    source,
    routes,
    logger: logger.child({ module: 'workers' }),
    onRestart: (slot) => restarts.inc({ worker: String(slot) }),
    onListening: (count) => listening.set(count),
  });
  const port = await pool.start();

  let stopping = false;
  const metricsText: MetricsText = {
    contentType: registry.contentType,
    metrics: async () => {
      const answers = await pool.ask(METRICS_JSON_PAGE, '');
      const fromWorkers = answers.filter(({ answer }) => answer.status === 200).map(({ answer }) => answer.body as MetricObjectWithValues<MetricValue<string>>[]);
      return AggregatorRegistry.aggregate([await registry.getMetricsAsJSON(), ...fromWorkers]).metrics();
    },
  };
  const combined = (path: string): JsonPage => async (query) => combine(await pool.ask(path, query.toString()));
  const pages: Record<string, JsonPage> = {
    [DEBUG_ENDPOINTS_PATH]: combined(DEBUG_ENDPOINTS_PATH),
    [DEBUG_WORKERS_PATH]: () => ({ status: 200, body: { workers: pool.view() } }),
    // SERVING while every worker listens: a worker being restarted makes the pod briefly not ready.
    [HEALTH_PATH]: () => {
      const status = !stopping && pool.listening === pool.size ? 'SERVING' : 'NOT_SERVING';
      return { status: status === 'SERVING' ? 200 : 503, body: { status, workers: { listening: pool.listening, of: pool.size } } };
    },
  };
  if (config.xds) pages['/debug/xds'] = combined('/debug/xds');
  const metricsEndpoint = await startMetricsServer(metricsText, config.host, config.metricsPort, logger.child({ module: 'metrics' }), pages);
  logger.info({ port, host: config.host, metricsPort: metricsEndpoint.port, discovery: source.name, namespace: config.ownNamespace, xds: config.xds, workers: config.workers }, 'listening');

  return {
    port,
    metricsPort: metricsEndpoint.port,
    async stop() {
      stopping = true;
      // A worker's drain is bounded by the grace period; this bounds a worker that hangs.
      await pool.stop(config.shutdownGraceMs + WORKER_STOP_MARGIN_MS);
      logger.info({ workers: config.workers }, 'every worker stopped');
      await routes?.close();
      await source.close();
      await metricsEndpoint.close();
    },
  };
}

/** Every worker's answer to one page: 200 when any worker's is, else the first worker's status. */
function combine(answers: readonly WorkerAnswer[]): JsonAnswer {
  const ok = answers.some(({ answer }) => answer.status === 200);
  const status = ok ? 200 : (answers[0]?.answer.status ?? 503);
  return { status, body: { workers: answers.map(({ worker, answer }) => ({ worker, status: answer.status, ...(answer.body as object) })) } };
}
