import { GrpcFront } from '../common/grpc-front.js';
import { CONNECTION_TIMES } from '../common/grpc-front-connection.js';
import { listenWithLimits } from '../common/grpc-listener.js';
import { GrpcServerMetrics } from '../common/grpc-metrics.js';
import { shutdownServer } from '../common/grpc.js';
import type { Logger } from '../common/logging.js';
import { createMetricsRegistry, startMetricsServer, type JsonPage } from '../common/metrics.js';
import type { Registry } from 'prom-client';
import type { LookasideConfig } from './config.js';
import { FileDiscovery } from './discovery/file.js';
import { readApiAccess } from './discovery/api-access.js';
import { DEFAULT_BACKOFF, KubernetesDiscovery } from './discovery/kubernetes.js';
import { transportListWatchApi } from './discovery/list-watch-transport.js';
import { KubernetesRoutes } from './routing/kubernetes-routes.js';
import { GRPC_ROUTE_KIND } from './routing/route-objects.js';
import type { RouteSource } from './routing/route-source.js';
import { RouteStatusWriter, sourceServiceExists, transportStatusPatcher } from './routing/route-status-writer.js';
import type { DiscoverySource, ServiceKey } from './discovery/types.js';
import { LimitMetrics } from './limit-metrics.js';
import { DEBUG_ENDPOINTS_PATH, debugEndpointsRoute } from './load/debug-endpoints.js';
import { LoadMetrics } from './load/load-metrics.js';
import { openGrpcOrcaStream } from './load/orca-client.js';
import { ServiceLoads } from './load/service-loads.js';
import { LookasideMetrics } from './metrics.js';
import { Resolver } from './resolver.js';
import { createLookasideServer } from './server.js';
import { ServingTls } from './serving-tls.js';
import { WatchedServices } from './watched-services.js';
import { xdsDescriptorsOffThread } from './xds/xds-descriptors.js';
import { XdsServer } from './xds/xds-server.js';

/** The gRPC health of the whole server as JSON on the metrics port: 200 SERVING, else 503. */
export const HEALTH_PATH = '/healthz';

/** A lookaside that is serving. */
export interface Lookaside {
  /** The bound gRPC port. */
  readonly port: number;
  /** The bound metrics port; 0 in a gRPC edge worker (its primary serves the metrics port). */
  readonly metricsPort: number;
  /**
   * Health NOT_SERVING, no new connections, every ADS stream ended, unary
   * calls answered, then every ResolveStream ended (bounded by
   * SHUTDOWN_GRACE_SECONDS); watches stopped.
   */
  stop(): Promise<void>;
}

/**
 * What a gRPC edge worker (LB_WORKERS > 1) is built from instead of its own
 * discovery: the primary's Services and routes over IPC, and a registry the
 * primary reads. A worker serves no metrics port: `pages` go to the primary.
 */
export interface EdgeParts {
  readonly source: DiscoverySource;
  readonly routes: RouteSource | undefined;
  readonly registry: Registry;
  /** Where this worker's round-robin rotations start (its slot), so workers do not all begin with the same endpoint. */
  readonly rotationOffset: number;
  /** An endpoint this worker ejected, for the primary to pass on to the other workers. */
  readonly onEjected: (key: ServiceKey, address: string, durationMs: number) => void;
}

/** A gRPC edge worker: the Lookaside without a metrics port, and the pages the primary serves for it. */
export interface EdgeLookaside extends Lookaside {
  readonly pages: Readonly<Record<string, JsonPage>>;
  /** Another worker ejected this endpoint: out of this worker's rotation too. */
  adoptEjection(key: ServiceKey, address: string, durationMs: number): void;
}

/** The whole lookaside as `main.ts` runs it, built from its config: discovery, the watched Services, the gRPC server with its xDS control plane, metrics. */
export async function createLookaside(config: LookasideConfig, logger: Logger): Promise<Lookaside>;
export async function createLookaside(config: LookasideConfig, logger: Logger, edge: EdgeParts): Promise<EdgeLookaside>;
export async function createLookaside(config: LookasideConfig, logger: Logger, edge?: EdgeParts): Promise<Lookaside | EdgeLookaside> {
  // First, so that bad TLS files fail start-up before anything else is opened.
  const tls = config.tls === undefined ? undefined : await ServingTls.open(config.tls, logger.child({ module: 'tls' }));
  // Read in a thread while discovery starts: reflection needs them before the server exists.
  const xdsDescriptors = config.xds ? xdsDescriptorsOffThread() : undefined;
  xdsDescriptors?.catch(() => undefined); // awaited below; a failure before then must not go unhandled
  const registry = edge?.registry ?? createMetricsRegistry('lookaside');
  const metrics = new LookasideMetrics(registry);
  const source = edge?.source ?? (await openDiscovery(config, metrics, logger.child({ module: 'discovery' })));
  const routes = edge === undefined ? openRoutes(config, source, logger.child({ module: 'routes' })) : edge.routes;
  const loads = new ServiceLoads({
    config: config.load,
    logger: logger.child({ module: 'load' }),
    metrics: new LoadMetrics(registry),
    openOrca: openGrpcOrcaStream,
    weightsIdleMs: config.idleTimeoutMs,
    onEjected: edge?.onEjected,
  });
  const services = new WatchedServices({
    source,
    maxServices: config.maxServices,
    idleTimeoutMs: config.idleTimeoutMs,
    missingTtlMs: config.negativeCacheMs,
    // The file is in memory: only the API server needs sparing from floods of new names.
    lookupsPerSecond: config.discovery.kind === 'kubernetes' ? config.lookupsPerSecond : undefined,
    metrics,
    logger: logger.child({ module: 'services' }),
    loads,
    rotationOffset: edge?.rotationOffset,
  });
  const resolver = new Resolver({
    services,
    ownNamespace: config.ownNamespace,
    defaultPolicy: config.defaultPolicy,
    allowedNamespaces: config.allowedNamespaces,
    describeMissing: (namespace, name) => source.describeMissing({ namespace, name }),
    loads,
    routes,
  });
  const serverLogger = logger.child({ module: 'server' });
  const limitMetrics = new LimitMetrics(registry, serverLogger);
  const xds = config.xds
    ? new XdsServer({ services, routes, allowedNamespaces: config.allowedNamespaces, registry, logger: logger.child({ module: 'xds' }), descriptors: await xdsDescriptors })
    : undefined;
  const lookaside = createLookasideServer({
    xds,
    resolver,
    metrics,
    grpcMetrics: new GrpcServerMetrics(registry),
    logger: serverLogger,
    limits: config.limits,
    onRefused: (limit) => limitMetrics.countRefused(limit),
    calls: loads,
  });
  const { server, health, endStreams } = lookaside;
  const front = new GrpcFront({
    server,
    routes: lookaside.routes,
    times: CONNECTION_TIMES,
    maxStreamsPerConnection: config.limits.maxStreamsPerConnection,
    logger: serverLogger,
  });

  const listener = await listenWithLimits(front, {
    host: config.host,
    port: config.port,
    maxConnections: config.limits.maxConnections,
    maxConnectionsPerClient: config.limits.maxConnectionsPerClient,
    onConnectionRefused: (bound) => limitMetrics.countRefused(bound === 'total' ? 'MAX_CONNECTIONS' : 'MAX_CONNECTIONS_PER_CLIENT'),
    onError: (error) => serverLogger.warn({ err: error.message }, 'cannot accept a connection'),
    tls: tls?.server,
  });
  limitMetrics.watch({ connections: listener.connections, calls: lookaside.openCalls, resolveStreams: lookaside.openResolveStreams });
  const port = listener.port;
  const pages: Record<string, JsonPage> = { [DEBUG_ENDPOINTS_PATH]: debugEndpointsRoute(loads, config.ownNamespace) };
  // For the kubelet when the gRPC port speaks TLS: its gRPC probe cannot.
  pages[HEALTH_PATH] = () => ({ status: health.status === 'SERVING' ? 200 : 503, body: { status: health.status } });
  if (xds !== undefined) pages['/debug/xds'] = (query) => ({ status: 200, body: xds.report(query.get('node') ?? undefined) });
  const metricsEndpoint = edge === undefined ? await startMetricsServer(registry, config.host, config.metricsPort, logger.child({ module: 'metrics' }), pages) : undefined;
  health.setAll('SERVING');
  logger.info(
    {
      port,
      host: config.host,
      metricsPort: metricsEndpoint?.port,
      discovery: source.name,
      namespace: config.ownNamespace,
      xds: config.xds,
      tls: config.tls === undefined ? 'off' : config.tls.clientCaFile === undefined ? 'tls' : 'mtls',
    },
    // The primary says 'listening' (with the metrics port) once every worker does.
    edge === undefined ? 'listening' : 'worker listening',
  );

  return {
    port,
    metricsPort: metricsEndpoint?.port ?? 0,
    pages,
    adoptEjection: (key, address, durationMs) => loads.adoptEjection(key, address, durationMs),
    async stop() {
      health.setAll('NOT_SERVING');
      void listener.close();
      tls?.close();
      // Open ResolveStreams would hold the server for the whole grace period: end
      // them as soon as the unary calls are answered (the front's GOAWAY has stopped new calls).
      const result = await shutdownServer(front, config.shutdownGraceMs, endStreams);
      logger.info({ result }, 'grpc server stopped');
      services.close();
      loads.closeAll();
      await routes?.close();
      await source.close();
      await metricsEndpoint?.close();
    },
  };
}

/** Where routes come from: the endpoints file's `routes`, or GRPCRoutes (with their status written) over discovery's API connections. */
export function openRoutes(config: LookasideConfig, source: DiscoverySource, logger: Logger): RouteSource | undefined {
  if (source instanceof FileDiscovery) return source.routes;
  const transport = source instanceof KubernetesDiscovery ? source.transport : undefined;
  if (!config.grpcRoutes || transport === undefined) return undefined;
  const status = new RouteStatusWriter({ patch: transportStatusPatcher(transport), serviceExists: sourceServiceExists(source), logger });
  const routes = new KubernetesRoutes({
    api: transportListWatchApi(transport, GRPC_ROUTE_KIND),
    refreshIntervalMs: config.refreshIntervalMs,
    watchSilenceLimitMs: config.watchSilenceLimitMs,
    backoff: DEFAULT_BACKOFF,
    logger,
    onRoutes: (namespace, objects) => status.onRoutes(namespace, objects),
  });
  return {
    routesIn: (namespace, waitMs) => routes.routesIn(namespace, waitMs),
    onChange: (listener) => routes.onChange(listener),
    close: async () => {
      status.close();
      await routes.close();
    },
  };
}

export async function openDiscovery(config: LookasideConfig, metrics: LookasideMetrics, logger: Logger): Promise<DiscoverySource> {
  if (config.discovery.kind === 'file') return FileDiscovery.open(config.discovery.path, logger);
  const cluster = config.discovery.cluster;
  const access = await readApiAccess(cluster);
  logger.info({ server: access.server }, 'watching EndpointSlices through the Kubernetes API');
  const options = { refreshIntervalMs: config.refreshIntervalMs, watchSilenceLimitMs: config.watchSilenceLimitMs, metrics, logger };
  return KubernetesDiscovery.fromAccess(access, options, () => readApiAccess(cluster));
}
