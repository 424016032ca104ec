import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

import { grpcCodeName } from '../../common/grpc-metrics.js';

/** The gateway adds a hop or two of sub-millisecond gRPC to each request. */
const HTTP_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const RESOLVE_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/**
 * The gateway's metrics. Label children are cached: most of these are touched
 * on every request.
 */
export class GatewayMetrics {
  private readonly httpRequests: Counter<'route' | 'method' | 'code'>;
  private readonly httpDuration: Histogram<'route' | 'method' | 'code'>;
  private readonly backendCalls: Counter<'address' | 'result'>;
  private readonly resolveDuration: Histogram;
  private readonly resolveErrors: Counter<'code'>;
  private readonly retries: Counter;
  private readonly hedges: Counter;
  private readonly channels: Gauge;
  private readonly channelsClosed: Counter<'reason'>;
  private readonly degraded: Gauge;
  private readonly connectionsRefused: Counter;
  private readonly httpChildren = new Map<string, { count: Counter.Internal; duration: Histogram.Internal<string> }>();
  private readonly backendChildren = new Map<string, Counter.Internal>();

  constructor(registry: Registry) {
    this.httpRequests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by route, method and status code.',
      labelNames: ['route', 'method', 'code'],
      registers: [registry],
    });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from receiving an HTTP request to sending its answer.',
      labelNames: ['route', 'method', 'code'],
      buckets: HTTP_BUCKETS_SECONDS,
      registers: [registry],
    });
    this.backendCalls = new Counter({
      name: 'greet_gateway_backend_calls_total',
      help: 'Greet calls to greet servers, by server address and gRPC result.',
      labelNames: ['address', 'result'],
      registers: [registry],
    });
    this.resolveDuration = new Histogram({
      name: 'greet_gateway_resolve_duration_seconds',
      help: 'Latency of Resolve calls to the lookaside, successful or not.',
      buckets: RESOLVE_BUCKETS_SECONDS,
      registers: [registry],
    });
    this.resolveErrors = new Counter({
      name: 'greet_gateway_resolve_errors_total',
      help: 'Resolve calls to the lookaside that failed, by gRPC code.',
      labelNames: ['code'],
      registers: [registry],
    });
    this.retries = new Counter({
      name: 'greet_gateway_retries_total',
      help: 'Greet calls retried on another pod after the first one answered UNAVAILABLE.',
      registers: [registry],
    });
    this.hedges = new Counter({
      name: 'greet_gateway_hedges_total',
      help: 'Greet calls sent again to another pod because the first had not answered within GREET_HEDGE_DELAY_MS.',
      registers: [registry],
    });
    this.channels = new Gauge({
      name: 'greet_gateway_channels',
      help: 'Open gRPC channels to greet servers in the pool.',
      registers: [registry],
    });
    this.channelsClosed = new Counter({
      name: 'greet_gateway_channels_closed_total',
      help: 'Pooled channels closed, by reason (idle: the lookaside stopped returning the address).',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.degraded = new Gauge({
      name: 'greet_gateway_degraded',
      help: '1 while the lookaside is unreachable or failing and the gateway balances over recently seen addresses.',
      registers: [registry],
    });
    this.connectionsRefused = new Counter({
      name: 'greet_gateway_http_connections_refused_total',
      help: 'HTTP connections closed on arrival because HTTP_MAX_CONNECTIONS were open.',
      registers: [registry],
    });
  }

  observeHttp(route: string, method: string, code: number, seconds: number): void {
    const key = `${route} ${method} ${code}`;
    let children = this.httpChildren.get(key);
    if (children === undefined) {
      const labels = [route, method, String(code)] as const;
      children = { count: this.httpRequests.labels(...labels), duration: this.httpDuration.labels(...labels) };
      this.httpChildren.set(key, children);
    }
    children.count.inc();
    children.duration.observe(seconds);
  }

  countBackendCall(address: string, code: number): void {
    const key = `${address} ${code}`;
    let counter = this.backendChildren.get(key);
    if (counter === undefined) {
      counter = this.backendCalls.labels(address, grpcCodeName(code));
      this.backendChildren.set(key, counter);
    }
    counter.inc();
  }

  /** Drops an address's series when its channel closes, so gone pods do not pile up. */
  forgetAddress(address: string): void {
    const prefix = `${address} `;
    for (const key of this.backendChildren.keys()) {
      if (!key.startsWith(prefix)) continue;
      this.backendChildren.delete(key);
      this.backendCalls.remove(address, grpcCodeName(Number(key.slice(prefix.length))));
    }
  }

  observeResolve(seconds: number, code: number | undefined): void {
    this.resolveDuration.observe(seconds);
    if (code !== undefined) this.resolveErrors.labels(grpcCodeName(code)).inc();
  }

  countRetry(): void {
    this.retries.inc();
  }

  countHedge(): void {
    this.hedges.inc();
  }

  setChannels(count: number): void {
    this.channels.set(count);
  }

  countChannelClosed(reason: string): void {
    this.channelsClosed.labels(reason).inc();
  }

  setDegraded(degraded: boolean): void {
    this.degraded.set(degraded ? 1 : 0);
  }

  countConnectionRefused(): void {
    this.connectionsRefused.inc();
  }
}
