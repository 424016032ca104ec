import { GrpcServerMetrics } from '../../common/grpc-metrics.js';
import { bindServer, shutdownServer } from '../../common/grpc.js';
import type { Logger } from '../../common/logging.js';
import { createMetricsRegistry, startMetricsServer } from '../../common/metrics.js';
import { startService } from '../../common/service.js';
import { exitOnSignals } from '../../common/shutdown.js';
import { loadGreetServerConfig, type GreetServerConfig } from './config.js';
import { createGreetServer } from './server.js';

async function run(config: GreetServerConfig, logger: Logger): Promise<void> {
  const registry = createMetricsRegistry('greet-server');
  // Who the server says it is and the faults it plays: handed to the server and logged as they are.
  const { podName, podIp, version, delayMs, cpuMs, failRate } = config;
  const behaviour = { podName, podIp, version, delayMs, cpuMs, failRate };
  const { server, health, load } = createGreetServer({
    ...behaviour,
    grpcMetrics: new GrpcServerMetrics(registry),
    logger: logger.child({ module: 'server' }),
  });
  const port = await bindServer(server, config.host, config.port);
  const metricsEndpoint = await startMetricsServer(registry, config.host, config.metricsPort, logger.child({ module: 'metrics' }));
  load.start();
  health.setAll('SERVING');
  logger.info(
    {
      port,
      host: config.host,
      metricsPort: metricsEndpoint.port,
      ...behaviour,
    },
    'listening',
  );

  exitOnSignals(logger, async () => {
    // Rolling update: say NOT_SERVING first and keep answering while the
    // endpoint is taken out of rotation, then stop taking calls and let the
    // in-flight ones finish.
    health.setAll('NOT_SERVING');
    logger.info({ drainMs: config.drainMs }, 'draining: health is NOT_SERVING, still answering');
    await new Promise((resolve) => setTimeout(resolve, config.drainMs));
    const result = await shutdownServer(server, config.shutdownGraceMs);
    logger.info({ result }, 'grpc server stopped');
    load.stop();
    await metricsEndpoint.close();
  });
}

void startService('greet-server', loadGreetServerConfig, run);
