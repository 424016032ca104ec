import { status as Status, type MethodDefinition, type Server, type ServiceDefinition } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import type { Registry } from 'prom-client';

import type { GrpcServerMetrics } from '../../common/grpc-metrics.js';
import type { Logger } from '../../common/logging.js';
import { REAL_TIMERS, type Timers } from '../../common/timers.js';
import { tolerantRequests } from '../unary-calls.js';
import type { WatchedServices } from '../watched-services.js';
import type { RouteSource } from '../routing/route-source.js';
import type { XdsReport } from './ads-report.js';
import { AdsStream, type AdsCall, type AdsStreamHost } from './ads-stream.js';
import { PushCoalescer } from './push-coalescer.js';
import { SharedResponses } from './shared-responses.js';
import { Subscriptions } from './subscriptions.js';
import { XdsFeeds } from './xds-feeds.js';
import { XdsMetrics } from './xds-metrics.js';
import { ADS_SERVICE, lazyXdsProtos, type XdsProtos, type XdsType } from './xds-protos.js';

/** /debug/xds lists this many streams at most (a stream can hold 400 names); `?node=` finds the others. */
export const MAX_REPORTED_STREAMS = 100;
/** Names this control plane in every DiscoveryResponse (`control_plane.identifier`). */
export const CONTROL_PLANE_ID = 'lookaside';

export interface XdsServerOptions {
  readonly services: WatchedServices;
  /** The routes (GRPCRoute) whose RouteConfigurations xDS clients get; none when not given. */
  readonly routes?: RouteSource;
  /** ALLOWED_NAMESPACES; empty allows every namespace. */
  readonly allowedNamespaces: readonly string[];
  readonly registry: Registry;
  readonly logger: Logger;
  /** The clock of the push window and of the retries of names not known yet. */
  readonly timers?: Timers;
  /** The push window (PUSH_QUIET_MS, PUSH_MAX_DELAY_MS when not given). */
  readonly pushQuietMs?: number;
  readonly pushMaxDelayMs?: number;
  /** The ADS service's file descriptors for reflection (xdsDescriptorsOffThread); read from the protos when not given. */
  readonly descriptors?: PackageDefinition;
}

/**
 * The lookaside as an xDS control plane: AggregatedDiscoveryService
 * (State of the World) over the Services WatchedServices follows, so stock
 * gRPC clients (grpc-js-xds, grpc-go, grpc-java…) balance per call from the
 * same cache Resolve answers from. Changes are gathered by a PushCoalescer
 * and pushed to every stream subscribed to the Services that changed.
 */
export class XdsServer {
  readonly protos: XdsProtos;
  private readonly streams = new Set<AdsStream>();
  private readonly feeds: XdsFeeds<AdsStream>;
  private readonly responses: SharedResponses;
  private readonly coalescer: PushCoalescer;
  private readonly metrics: XdsMetrics;
  private readonly host: AdsStreamHost;
  private ending: { code: Status; message: string } | undefined;

  constructor(private readonly options: XdsServerOptions) {
    this.protos = lazyXdsProtos((loadMs) => options.logger.info({ loadMs: Math.round(loadMs) }, 'xDS protos loaded (first ADS stream)'));
    this.metrics = new XdsMetrics(options.registry);
    const timers = options.timers ?? REAL_TIMERS;
    this.coalescer = new PushCoalescer({
      timers,
      quietMs: options.pushQuietMs,
      maxDelayMs: options.pushMaxDelayMs,
      flush: (serviceIds) => this.push(serviceIds),
    });
    this.feeds = new XdsFeeds<AdsStream>({
      services: options.services,
      protos: this.protos,
      timers,
      logger: options.logger,
      onChange: (serviceId) => this.coalescer.mark(serviceId),
      routes: options.routes,
    });
    options.routes?.onChange?.((namespace) => {
      for (const id of this.feeds.idsIn(namespace)) this.coalescer.mark(id);
    });
    this.responses = new SharedResponses(this.protos, CONTROL_PLANE_ID, (type, name, parsed) =>
      parsed.ok ? this.feeds.answer(type, name, parsed.target) : { kind: 'absent', problem: parsed.problem },
    );
    this.host = this.streamHost(timers, new Set(options.allowedNamespaces));
  }

  /** For reflection: the descriptors given, else the protos' own (which loads them). */
  get packageDefinition(): PackageDefinition {
    return this.options.descriptors ?? this.protos.packageDefinition;
  }

  /** ADS streams open now. */
  get size(): number {
    return this.streams.size;
  }

  /** Serves AggregatedDiscoveryService on `server`, counted in grpc_server_* like every method. */
  addToServer(server: Server, grpcMetrics: GrpcServerMetrics): void {
    const handler = grpcMetrics.instrumentBidi<unknown, unknown>(ADS_SERVICE, 'StreamAggregatedResources', (call, observer) => {
      const stream = new AdsStream(call as AdsCall, observer, this.host);
      stream.start();
      if (this.ending !== undefined) {
        stream.end(this.ending.code, this.ending.message);
        return;
      }
      this.streams.add(stream);
      this.metrics.streamOpened();
    });
    server.addService(encodedResponses(tolerantRequests(this.protos.adsService)), { StreamAggregatedResources: handler });
  }

  /**
   * What /debug/xds shows: the first MAX_REPORTED_STREAMS streams (those
   * whose node id contains `node`, when given), and every subscribed Service.
   */
  report(node?: string): XdsReport {
    const matching = [...this.streams].filter((stream) => node === undefined || stream.nodeId.includes(node));
    return {
      streams_open: this.streams.size,
      streams_matching: matching.length,
      streams: matching.slice(0, MAX_REPORTED_STREAMS).map((stream) => stream.describe()),
      services: this.feeds.describe(),
    };
  }

  /** Ends every stream (and any that opens later) with `code`, for shutdown: clients move to another replica. */
  endAll(code: Status, message: string): void {
    this.ending = { code, message };
    this.coalescer.cancel();
    for (const stream of [...this.streams]) stream.end(code, message);
    this.feeds.closeAll();
  }

  private push(serviceIds: ReadonlySet<string>): void {
    const startedAtMs = performance.now();
    this.responses.invalidate();
    const streams = new Set<AdsStream>();
    for (const id of serviceIds) for (const stream of this.feeds.subscribersOf(id)) streams.add(stream);
    for (const stream of streams) stream.refresh();
    this.options.logger.debug({ services: serviceIds.size, streams: streams.size, ms: Math.round(performance.now() - startedAtMs) }, 'pushed');
  }

  private streamHost(timers: Timers, allowedNamespaces: ReadonlySet<string>): AdsStreamHost {
    const { metrics, logger } = { metrics: this.metrics, logger: this.options.logger };
    return {
      feeds: this.feeds,
      responses: this.responses,
      subscriptions: new Subscriptions(allowedNamespaces),
      now: () => timers.now(),
      pushed: (type: XdsType) => metrics.pushed(type),
      nacked: (type, stream, message) => {
        metrics.nacked(type);
        logger.warn({ type, node: stream.nodeId, message }, 'xDS client rejected a response (NACK)');
      },
      subscriptionsChanged: (type, delta) => metrics.subscriptionsChanged(type, delta),
      closed: (stream) => {
        if (this.streams.delete(stream)) metrics.streamClosed();
      },
    };
  }
}

/** The ADS service with a response serializer that sends bytes already encoded (SharedResponses) as they are. */
function encodedResponses(service: ServiceDefinition): ServiceDefinition {
  const methods = Object.entries(service) as [string, MethodDefinition<unknown, unknown>][];
  return Object.fromEntries(
    methods.map(([name, method]) => {
      const serialize = method.responseSerialize;
      return [name, { ...method, responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : serialize(value)) }];
    }),
  );
}
