/**
 * A gRPC edge worker (LB_WORKERS > 1), started by the primary with
 * node:cluster: the whole gRPC edge on the shared LB_PORT, with Services and
 * routes from the primary (which alone talks to Kubernetes) and no metrics
 * port of its own (the primary reads this worker's registry over IPC).
 */
import { loadLookasideConfig } from '../config.js';
import { createRootLogger } from '../../common/logging.js';
import { createMetricsRegistry } from '../../common/metrics.js';
import { failStartup } from '../../common/shutdown.js';
import type { ServiceKey } from '../discovery/types.js';
import { createLookaside, type EdgeLookaside } from '../lookaside.js';
import { workerChannel } from './channel.js';
import { PrimaryDiscovery } from './primary-discovery.js';
import { PrimaryRoutes } from './primary-routes.js';
import { CHANNEL, METRICS_JSON_PAGE, type PrimaryMessage } from './protocol.js';

const channel = workerChannel(process);
let lookaside: EdgeLookaside | undefined;
let stopping: Promise<void> | undefined;
/** The pages this worker answers for the primary; none until it listens. */
let pagesOf: (path: string) => EdgeLookaside['pages'][string] | undefined = () => undefined;

channel.onMessage((message) => {
  if (message.type === 'start') void start(message.slot, message.workers, message.routes);
  else if (message.type === 'stop') void stop();
  else if (message.type === 'page') void answerPage(message);
  else if (message.type === 'ejected') lookaside?.adoptEjection({ namespace: message.namespace, name: message.name }, message.address, message.durationMs);
});
// The primary orders the drain; a Ctrl-C reaches the whole process group, and
// the primary's 'stop' follows. SIGTERM sent to this worker alone drains it.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => void stop());
// The primary is gone (killed): nobody keeps this worker's Services current.
process.on('disconnect', () => void stop());
channel.send({ channel: CHANNEL, type: 'hello' });

async function start(slot: number, workers: number, routes: boolean): Promise<void> {
  const loaded = loadLookasideConfig(process.env);
  // The API server's budget for new names is shared out, so that all workers together keep to it.
  const config = { ...loaded, lookupsPerSecond: Math.max(1, Math.ceil(loaded.lookupsPerSecond / workers)) };
  const logger = createRootLogger('lookaside', config.logLevel).child({ worker: slot });
  try {
    const registry = createMetricsRegistry('lookaside');
    registry.setDefaultLabels({ app: 'lookaside', worker: String(slot) });
    const source = new PrimaryDiscovery(channel, config.discovery.kind);
    const edge = {
      source,
      routes: routes ? new PrimaryRoutes(channel) : undefined,
      registry,
      rotationOffset: slot,
      onEjected: (key: ServiceKey, address: string, durationMs: number) =>
        channel.send({ channel: CHANNEL, type: 'ejected', namespace: key.namespace, name: key.name, address, durationMs }),
    };
    lookaside = await createLookaside(config, logger, edge);
    const pages = lookaside.pages;
    pagesOf = (path) => (path === METRICS_JSON_PAGE ? async () => ({ status: 200, body: await registry.getMetricsAsJSON() }) : pages[path]);
    channel.send({ channel: CHANNEL, type: 'listening', port: lookaside.port });
  } catch (error) {
    failStartup(error, logger);
  }
}

async function answerPage(message: Extract<PrimaryMessage, { type: 'page' }>): Promise<void> {
  const page = pagesOf(message.path);
  let answer;
  try {
    answer = page === undefined ? { status: 404, body: { error: { code: 'NOT_FOUND', message: `no page ${message.path}` } } } : await page(new URLSearchParams(message.query));
  } catch (error) {
    answer = { status: 500, body: { error: { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) } } };
  }
  channel.send({ channel: CHANNEL, type: 'page', request: message.request, answer });
}

function stop(): Promise<void> {
  stopping ??= (async () => {
    await lookaside?.stop();
    process.exit(0);
  })();
  return stopping;
}
