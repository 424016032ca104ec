import { Registry } from 'prom-client';

import { GrpcServerMetrics } from '../../src/common/grpc-metrics.js';
import { bindServer } from '../../src/common/grpc.js';
import { silentLogger } from '../../src/common/logging.js';
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from '../../src/lookaside/config.js';
import type { SliceInput } from '../../src/lookaside/discovery/slices.js';
import { LookasideMetrics } from '../../src/lookaside/metrics.js';
import { createLookasideServer, type LookasideServer } from '../../src/lookaside/server.js';
import type { WatchedServicesOptions } from '../../src/lookaside/watched-services.js';
import { PUSH_MAX_DELAY_MS } from '../../src/lookaside/xds/push-coalescer.js';
import { XdsServer } from '../../src/lookaside/xds/xds-server.js';
import { AdsClient, type AdsResponse } from './ads-client.js';
import { FakeSource } from './fake-source.js';
import { until } from './lookaside-server.js';
import { ManualTimers } from './manual-timers.js';
import { resolverStack, type ResolverStack } from './resolver-stack.js';

export interface XdsHarnessOptions {
  readonly limits?: Partial<ServerLimits>;
  readonly services?: Partial<WatchedServicesOptions>;
  readonly allowedNamespaces?: readonly string[];
}

/**
 * The lookaside's gRPC server with its xDS control plane on loopback port 0,
 * over a FakeSource whose Services the test writes (`slices`), with manual
 * timers for the push window and retries (WatchedServices on the same clock).
 */
export class XdsHarness {
  readonly source = new FakeSource();
  readonly timers = new ManualTimers();
  /** What the source holds per `namespace/name`; absent = the Service does not exist. */
  readonly slices = new Map<string, SliceInput[]>();
  readonly stack: ResolverStack;
  readonly xds: XdsServer;
  readonly lookaside: LookasideServer;
  readonly refused: string[] = [];
  port = 0;
  private readonly clients: AdsClient[] = [];

  constructor(options: XdsHarnessOptions = {}) {
    this.source.answer = (id) => this.slices.get(id) ?? [];
    this.stack = resolverStack(this.source, { now: () => this.timers.now(), missingTtlMs: 5_000, ...options.services });
    this.xds = new XdsServer({
      services: this.stack.services,
      allowedNamespaces: options.allowedNamespaces ?? [],
      registry: this.stack.registry,
      logger: silentLogger(),
      timers: this.timers,
    });
    const serverRegistry = new Registry();
    this.lookaside = createLookasideServer({
      resolver: this.stack.resolver,
      metrics: new LookasideMetrics(serverRegistry),
      grpcMetrics: new GrpcServerMetrics(serverRegistry),
      logger: silentLogger(),
      limits: { ...DEFAULT_SERVER_LIMITS, ...options.limits },
      now: () => this.timers.now(),
      onRefused: (limit) => this.refused.push(limit),
      xds: this.xds,
    });
  }

  static async start(options: XdsHarnessOptions = {}): Promise<XdsHarness> {
    const harness = new XdsHarness(options);
    harness.port = await bindServer(harness.lookaside.server, '127.0.0.1', 0);
    return harness;
  }

  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  client(id = `client-${this.clients.length + 1}`): AdsClient {
    const client = AdsClient.open(this.target, { id, locality: { zone: 'test-zone' } });
    this.clients.push(client);
    return client;
  }

  /** Sets a Service's slices and tells the source's followers (if any follow it yet). */
  publish(id: string, slices: SliceInput[]): void {
    this.slices.set(id, slices);
    if (this.source.followed.has(id)) this.source.publishSlices(id, slices);
  }

  /**
   * Lets the server work (real time for the network and the source, manual
   * time for the push window) until `client` has more than `count` responses
   * of `type`, and returns the newest.
   */
  async pushed(client: AdsClient, type: AdsResponse['type'], count = client.received(type).length): Promise<AdsResponse> {
    await until(() => {
      this.timers.advance(PUSH_MAX_DELAY_MS);
      return client.received(type).length > count;
    }, `a ${type} response`);
    return client.received(type).at(-1) as AdsResponse;
  }

  /** Like `pushed`, until a response of `type` satisfies `matches`. */
  async pushedMatching(client: AdsClient, type: AdsResponse['type'], matches: (response: AdsResponse) => boolean): Promise<AdsResponse> {
    await until(() => {
      this.timers.advance(PUSH_MAX_DELAY_MS);
      return client.received(type).some(matches);
    }, `a matching ${type} response`);
    return client.received(type).find(matches) as AdsResponse;
  }

  /** Moves manual time past the push window a few times, with real time between for the network. */
  async flush(rounds = 5): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      this.timers.advance(PUSH_MAX_DELAY_MS);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** The metric's value in the xDS registry (summed over series whose labels include `labels`). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = await this.stack.registry.getSingleMetric(name)?.get();
    return (metric?.values ?? [])
      .filter((value) => Object.entries(labels).every(([label, wanted]) => value.labels[label] === wanted))
      .reduce((sum, value) => sum + value.value, 0);
  }

  stop(): void {
    for (const client of this.clients) client.close();
    this.lookaside.server.forceShutdown();
    this.xds.endAll(1, 'test over');
    this.stack.services.close();
  }
}
