import type { Client } from '@grpc/grpc-js';
import type { Registry } from 'prom-client';

import type { Logger } from '../../common/logging.js';
import { createMetricsRegistry } from '../../common/metrics.js';
import { ChannelPool } from './channel-pool.js';
import type { GatewayConfig, LookasideSettings } from './config.js';
import { DirectRouter } from './direct-router.js';
import { RecentAddresses } from './fallback.js';
import { openGreetChannel, startGreet } from './greet-client.js';
import { HttpEdge } from './http-edge.js';
import { LookasideClient } from './lookaside-client.js';
import { LookasideRouter } from './lookaside-router.js';
import { lookasideTlsOptions } from './lookaside-tls.js';
import { GatewayMetrics } from './metrics.js';
import type { GreetRouter } from './router.js';
import { prepareXdsChannels } from './xds/xds-channel.js';

/** A gateway that is listening. */
export interface Gateway {
  /** The bound HTTP port. */
  readonly port: number;
  /** Drains (/readyz 503 for SHUTDOWN_DRAIN_MS), lets requests finish within the grace period, closes the channels. */
  stop(): Promise<void>;
}

/** The whole gateway as `main.ts` runs it, built from its config: the router for BALANCING, the HTTP edge, listening. */
export async function createGateway(config: GatewayConfig, logger: Logger): Promise<Gateway> {
  const registry: Registry = createMetricsRegistry('greet-gateway');
  const metrics = new GatewayMetrics(registry);
  const router =
    config.lookaside === undefined
      ? await directRouter(config, metrics, logger.child({ module: 'router' }))
      : lookasideRouter(config, config.lookaside, metrics, logger.child({ module: 'router' }));
  const edge = new HttpEdge({ router, registry, metrics, limits: config.http, logger: logger.child({ module: 'http' }) });
  const port = await edge.listen(config.host, config.port);
  logger.info(
    {
      port,
      host: config.host,
      balancing: config.balancing,
      service: `${config.namespace}/${config.service}`,
      lookaside: config.lookaside?.target ?? config.xds?.bootstrap.serverUri,
      lookasideTls: config.lookaside === undefined ? undefined : config.lookaside.tls === undefined ? 'off' : 'on',
      target: config.lookaside === undefined ? (config.xds?.target ?? config.directTarget) : undefined,
    },
    'listening',
  );

  return {
    port,
    async stop() {
      edge.startDraining();
      await new Promise((resolve) => setTimeout(resolve, config.drainMs));
      const result = await edge.close(config.shutdownGraceMs);
      logger.info({ result }, 'http server stopped');
      router.close();
    },
  };
}

/** BALANCING=round_robin, none or xds: grpc-js balances over one channel. */
async function directRouter(config: GatewayConfig, metrics: GatewayMetrics, logger: Logger): Promise<GreetRouter> {
  const options = { greetTimeoutMs: config.greetTimeoutMs, keepalive: config.greetKeepalive, metrics, logger };
  if (config.xds === undefined) {
    return new DirectRouter({ ...options, mode: config.balancing === 'round_robin' ? 'round_robin' : 'none', target: config.directTarget });
  }
  const { bootstrap, target } = config.xds;
  await prepareXdsChannels(bootstrap);
  return new DirectRouter({
    ...options,
    mode: 'xds',
    target,
    detail: { xds_server: bootstrap.serverUri, node_id: bootstrap.nodeId, bootstrap: bootstrap.source },
  });
}

function lookasideRouter(config: GatewayConfig, settings: LookasideSettings, metrics: GatewayMetrics, logger: Logger): GreetRouter {
  const pool = new ChannelPool<Client>({
    factory: { open: (address) => openGreetChannel(address, config.greetKeepalive), close: (client) => client.close() },
    maxChannels: settings.maxChannels,
    idleMs: settings.channelIdleMs,
    events: {
      opened: (address, size) => {
        metrics.setChannels(size);
        logger.info({ address, channels: size }, 'channel opened');
      },
      closed: (address, reason, size) => {
        metrics.setChannels(size);
        metrics.countChannelClosed(reason);
        metrics.forgetAddress(address);
        logger.info({ address, reason, channels: size }, 'channel closed');
      },
    },
  });
  const router = new LookasideRouter<Client>({
    lookaside: new LookasideClient({
      target: settings.target,
      api: settings.api,
      service: config.service,
      namespace: config.namespace,
      policy: settings.policy,
      reportCalls: settings.reportCalls,
      defaultPort: config.serverPort,
      timeoutMs: settings.resolveTimeoutMs,
      keepalive: settings.keepalive,
      onConnectionDropped: (reason) => logger.warn({ reason }, 'connection to the lookaside dropped as dead; the next request reconnects'),
      tls: settings.tls === undefined ? undefined : lookasideTlsOptions(settings.tls, logger),
    }),
    service: `${config.namespace}/${config.service}`,
    pool,
    fallback: new RecentAddresses({ maxAgeMs: settings.fallbackMaxAgeMs, maxAddresses: settings.maxChannels }),
    startGreet,
    greetTimeoutMs: config.greetTimeoutMs,
    hedgeDelayMs: settings.hedgeDelayMs,
    fallbackMaxAgeMs: settings.fallbackMaxAgeMs,
    metrics,
    logger,
  });
  router.start();
  return router;
}
