/**
 * The lookaside's Resolve methods served by their lean routes on a bare
 * node:http2 server (no grpc-js, no front): the file-discovery lookaside's
 * pieces as createLookaside wires them, for `BENCH_LOOKASIDE_SCRIPT=bench/lean-server.js
 * node dist/bench/lookaside-bench.js` while the HTTP/2 front is not there.
 * Reads LB_PORT, METRICS_PORT and ENDPOINTS_FILE like the lookaside.
 */
import { GrpcServerMetrics } from '../src/common/grpc-metrics.js';
import { createRootLogger } from '../src/common/logging.js';
import { createMetricsRegistry, startMetricsServer } from '../src/common/metrics.js';
import { loadLookasideConfig } from '../src/lookaside/config.js';
import { LoadMetrics } from '../src/lookaside/load/load-metrics.js';
import { openGrpcOrcaStream } from '../src/lookaside/load/orca-client.js';
import { ServiceLoads } from '../src/lookaside/load/service-loads.js';
import { openDiscovery } from '../src/lookaside/lookaside.js';
import { LookasideMetrics } from '../src/lookaside/metrics.js';
import { Resolver } from '../src/lookaside/resolver.js';
import { createLookasideServer } from '../src/lookaside/server.js';
import { WatchedServices } from '../src/lookaside/watched-services.js';
import { serveRoutes } from '../test/support/stream-routes-server.js';

async function main(): Promise<void> {
  const config = loadLookasideConfig(process.env);
  const logger = createRootLogger('lookaside', 'warn');
  const registry = createMetricsRegistry('lookaside');
  const metrics = new LookasideMetrics(registry);
  const source = await openDiscovery(config, metrics, logger);
  const loads = new ServiceLoads({ config: config.load, logger, metrics: new LoadMetrics(registry), openOrca: openGrpcOrcaStream, weightsIdleMs: config.idleTimeoutMs });
  const services = new WatchedServices({ source, maxServices: config.maxServices, idleTimeoutMs: config.idleTimeoutMs, missingTtlMs: config.negativeCacheMs, metrics, logger, loads });
  const resolver = new Resolver({
    services,
    ownNamespace: config.ownNamespace,
    defaultPolicy: config.defaultPolicy,
    allowedNamespaces: config.allowedNamespaces,
    describeMissing: (namespace, name) => source.describeMissing({ namespace, name }),
    loads,
    routes: undefined,
  });
  const lookaside = createLookasideServer({ resolver, metrics, grpcMetrics: new GrpcServerMetrics(registry), logger, limits: config.limits, calls: loads });
  await serveRoutes(lookaside.routes, { maxConcurrentStreams: config.limits.maxStreamsPerConnection }, config.port);
  await startMetricsServer(registry, config.host, config.metricsPort, logger, {});
}

// An exit, not a kill: `node --cpu-prof` writes its profile on exit.
process.once('SIGTERM', () => process.exit(0));
void main();
