import { Counter, Gauge, type Registry } from 'prom-client';

import { XDS_TYPES, type XdsType } from './xds-protos.js';

/** The xDS server's series; `type` is one of the four resource types, so label sets stay bounded. */
export class XdsMetrics {
  private readonly streams: Gauge;
  private readonly pushes: Counter<'type'>;
  private readonly nacks: Counter<'type'>;
  private readonly subscriptions: Gauge<'type'>;

  constructor(registry: Registry) {
    this.streams = new Gauge({
      name: 'lookaside_xds_streams',
      help: 'xDS (ADS) streams open now.',
      registers: [registry],
    });
    this.pushes = new Counter({
      name: 'lookaside_xds_pushes_total',
      help: 'DiscoveryResponses sent to xDS clients, by resource type (listener, route, cluster, endpoint).',
      labelNames: ['type'],
      registers: [registry],
    });
    this.nacks = new Counter({
      name: 'lookaside_xds_nacks_total',
      help: 'DiscoveryResponses xDS clients rejected (NACK), by resource type.',
      labelNames: ['type'],
      registers: [registry],
    });
    this.subscriptions = new Gauge({
      name: 'lookaside_xds_subscriptions',
      help: 'Resource names subscribed to now, summed over open xDS streams, by resource type.',
      labelNames: ['type'],
      registers: [registry],
    });
    // Every type shows from the start, so a dashboard's rate() has a zero to start from.
    for (const type of XDS_TYPES) {
      this.pushes.labels(type).inc(0);
      this.nacks.labels(type).inc(0);
      this.subscriptions.labels(type).set(0);
    }
  }

  streamOpened(): void {
    this.streams.inc();
  }

  streamClosed(): void {
    this.streams.dec();
  }

  pushed(type: XdsType): void {
    this.pushes.labels(type).inc();
  }

  nacked(type: XdsType): void {
    this.nacks.labels(type).inc();
  }

  subscriptionsChanged(type: XdsType, delta: number): void {
    if (delta !== 0) this.subscriptions.labels(type).inc(delta);
  }
}
